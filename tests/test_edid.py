"""EDID parser (round trips with the fixture generator, hand fixtures, garbage) and EDID sources."""

from __future__ import annotations

import pytest
from edid_fixtures import (
    HEADER,
    PANEL_86,
    PROJECTOR,
    Cta,
    EdidSpec,
    Timing,
    build_edid,
    dtd,
    edid_specs,
    seal,
    timings,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from classcert.device_drivers.edid import (
    Edid,
    EdidError,
    diagonal_in_from_cm,
    diagonal_in_from_mm,
    parse_dtd,
    parse_edid,
    vic_mode,
)
from classcert.device_drivers.edid_source import (
    EdidSourceError,
    edids_from_text,
    list_drm_connectors,
    read_connector_edid,
    read_edid,
    read_edid_file,
)
from classcert.device_drivers.errors import DeviceError


def _timing_fields(t: Timing, parsed) -> None:
    assert parsed.pixel_clock_khz == t.pixel_clock_khz
    assert (parsed.h_active, parsed.h_blank, parsed.v_active, parsed.v_blank) == (
        t.h_active, t.h_blank, t.v_active, t.v_blank)
    assert (parsed.h_front_porch, parsed.h_sync, parsed.v_front_porch, parsed.v_sync) == (
        t.h_front, t.h_sync, t.v_front, t.v_sync)
    assert (parsed.hsync_positive, parsed.vsync_positive) == (t.hsync_positive, t.vsync_positive)
    assert parsed.digital_separate_sync and parsed.interlaced == t.interlaced


@settings(max_examples=300)
@given(edid_specs())
def test_round_trip_with_generator(spec: EdidSpec):
    e = parse_edid(build_edid(spec))
    assert (e.manufacturer, e.product_code, e.serial_number) == (
        spec.manufacturer, spec.product_code, spec.serial)
    assert (e.week, e.year, e.version, e.digital) == (
        spec.week, spec.year, (1, spec.version), spec.digital)
    assert e.screen_cm == spec.size_bytes and e.aspect_ratio is None
    assert e.checksum_ok == (not spec.bad_checksum)
    assert (e.name, e.serial_string) == (spec.name, spec.serial_string)
    assert e.extension_count == len(spec.extensions) and not e.truncated
    sent = [(spec.preferred, *spec.dtd_mm), *spec.extra_dtds]
    sent += [d for c in spec.extensions for d in c.dtds]
    assert len(e.all_dtds) == len(sent)
    for (t, h_mm, v_mm), parsed in zip(sent, e.all_dtds, strict=True):
        _timing_fields(t, parsed)
        assert parsed.image_mm == (h_mm, v_mm)
    assert e.preferred_timing == e.all_dtds[0]
    assert (e.range_limits is None) == (spec.range_limits is None)
    for c, ext in zip(spec.extensions, e.cta, strict=True):
        assert ext.vics == c.vics
        assert [s.native for s in ext.svds] == [v in c.native_vics for v in c.vics]
        assert ext.native_dtd_count == len(c.dtds) and ext.checksum_ok


@settings(max_examples=300)
@given(st.binary(min_size=128, max_size=128) | st.binary(min_size=256, max_size=256),
       st.booleans())
def test_random_bytes_never_crash(data: bytes, with_header: bool):
    if with_header:
        data = HEADER + data[8:]
    try:
        e = parse_edid(data)
    except EdidError as exc:
        assert not with_header and data[:8] != HEADER
        assert "EDID" in str(exc)
        return
    assert isinstance(e, Edid) and len(e.manufacturer) == 3
    assert e.checksum_ok == (sum(data[:128]) % 256 == 0)
    for t in e.all_dtds:
        assert t.refresh_hz >= 0 and 0 <= t.h_image_mm <= 4095


@settings(max_examples=200)
@given(st.binary(max_size=600))
def test_any_length_is_edid_or_edid_error(data: bytes):
    try:
        parse_edid(HEADER + data)
    except EdidError:
        assert len(HEADER + data) % 128
    else:
        assert len(HEADER + data) % 128 == 0


@settings(max_examples=200)
@given(timings(), st.integers(0, 4095), st.integers(0, 4095))
def test_dtd_mm_upper_nibbles(t: Timing, h_mm: int, v_mm: int):
    raw = dtd(t, h_mm, v_mm)
    assert raw[14] == ((h_mm >> 8) << 4) | (v_mm >> 8)
    assert parse_dtd(raw).image_mm == (h_mm, v_mm)


def test_86_inch_panel_fields():
    e = parse_edid(build_edid(PANEL_86))
    assert (e.manufacturer, e.product_code, e.serial_number) == ("CCT", 0x8601, 860001)
    assert (e.week, e.year, e.model_year) == (12, 2022, False)
    assert e.screen_cm == (190, 107) and e.first_dtd_preferred
    t = e.preferred_timing
    assert (t.h_active, t.v_active, t.image_mm) == (3840, 2160, (1904, 1071))
    assert t.refresh_hz == pytest.approx(60.0) and t.diagonal_in == pytest.approx(86.0, abs=0.1)
    assert (e.name, e.serial_string) == ("CC86 Panel", "86A0001")
    limits = e.range_limits
    assert (limits.min_v_hz, limits.max_v_hz, limits.max_h_khz) == (24, 75, 135)
    assert limits.max_pixel_clock_mhz == 600
    assert e.vics == (97, 96, 95, 16, 31, 4, 19, 1) and e.extension_tags == (0x02,)
    assert [s.vic for s in e.cta[0].svds if s.native] == [16]
    assert e.cta[0].dtds[0].h_active == 1920 and e.warnings == ()


def test_vic_16_is_1080p60():
    mode = vic_mode(16)
    assert (mode.width, mode.height, mode.interlaced) == (1920, 1080, False)
    assert mode.refresh_hz == pytest.approx(60.0)
    assert vic_mode(5).interlaced and vic_mode(97).width == 3840 and vic_mode(250) is None


def test_diagonal_helpers():
    assert diagonal_in_from_mm(1904, 1071) == pytest.approx(86.0, abs=0.05)
    assert diagonal_in_from_cm(144, 81) == pytest.approx(65.05, abs=0.05)
    assert diagonal_in_from_cm(3, 4) == pytest.approx(5 / 2.54)


@pytest.mark.parametrize(("size", "version", "cm", "aspect"), [
    ((79, 0), 4, None, 1.78), ((0, 79), 4, None, 100 / 178), ((79, 0), 3, None, None),
    ((0, 0), 4, None, None), ((160, 90), 4, (160, 90), None)])
def test_size_bytes_and_aspect_encoding(size, version, cm, aspect):
    e = parse_edid(build_edid(size_bytes=size, version=version))
    assert e.screen_cm == cm and e.size_bytes == size
    assert e.aspect_ratio == (None if aspect is None else pytest.approx(aspect))


def test_255_cm_is_at_least():
    e = parse_edid(build_edid(size_bytes=(255, 149)))
    assert e.size_cm_at_least and not parse_edid(build_edid(size_bytes=(254, 149))).size_cm_at_least


def test_bad_checksums_are_flagged_not_fatal():
    data = build_edid(PANEL_86, bad_checksum=True,
                      extensions=(Cta(vics=(16,), bad_checksum=True),))
    e = parse_edid(data)
    assert not e.checksum_ok and e.bad_checksum_blocks == (0, 1)
    assert e.manufacturer == "CCT" and e.vics == (16,)
    assert any("checksum" in w for w in e.warnings)


def test_truncated_and_surplus_blocks():
    full = build_edid(PANEL_86)
    short = parse_edid(full[:128])
    assert short.truncated and short.extension_count == 1 and short.cta == ()
    extra = parse_edid(full + full[128:])
    assert not extra.truncated and len(extra.raw) == 256 and extra.warnings


def test_model_year_reserved_svds_and_bad_letters():
    b = bytearray(build_edid(week=1))
    b[16], b[8], b[9] = 0xFF, 0x00, 0x00
    e = parse_edid(seal(b))
    assert e.model_year and e.manufacturer == "???" and e.warnings
    cta = parse_edid(build_edid(extensions=(Cta(vics=(16, 0, 254)),)))
    assert cta.vics == (16,)
    edge = parse_edid(build_edid(extensions=(Cta(vics=(64, 1, 65, 193), native_vics=(64, 1)),)))
    assert [(s.vic, s.native) for s in edge.cta[0].svds] == [
        (64, True), (1, True), (65, False), (193, False)]


def test_range_limit_offsets_edid14():
    b = bytearray(build_edid(range_limits=(1, 10, 1, 10, 600)))
    slot = 54 + 18  # preferred DTD first, then the range limits descriptor
    assert b[slot + 3] == 0xFD
    b[slot + 4] = 0x0F
    lim = parse_edid(seal(b)).range_limits
    assert (lim.min_v_hz, lim.max_v_hz, lim.min_h_khz, lim.max_h_khz) == (256, 265, 256, 265)


@pytest.mark.parametrize("data", [b"", bytes(100), bytes(128), HEADER + bytes(130)])
def test_not_an_edid(data):
    with pytest.raises(EdidError) as info:
        parse_edid(data, source="card0-HDMI-A-1")
    assert isinstance(info.value, DeviceError) and " / " in str(info.value)
    assert str(info.value).startswith("card0-HDMI-A-1: ")


# ---- sources: files and DRM sysfs ---------------------------------------------------------


def _xrandr(*edids: bytes) -> str:
    out = ["Screen 0: minimum 320 x 200, current 1920 x 1080, maximum 16384 x 16384"]
    for i, e in enumerate(edids):
        out += [f"HDMI-{i} connected 1920x1080+0+0 (0x4a) normal", "\tEDID: "]
        out += ["\t\t" + e[j:j + 16].hex() for j in range(0, len(e), 16)]
        out += ["\tBroadcast RGB: Automatic", "  1920x1080 (0x4a) 148.500MHz +HSync +VSync"]
    return "\n".join(out) + "\n"


def test_file_formats(tmp_path):
    a, b = build_edid(PANEL_86), build_edid(PROJECTOR)
    (tmp_path / "raw.bin").write_bytes(a)
    (tmp_path / "xr.txt").write_text(_xrandr(a, b))
    (tmp_path / "c.txt").write_text(", ".join(f"0x{x:02x}" for x in b))
    assert read_edid_file(tmp_path / "raw.bin") == a
    assert read_edid_file(tmp_path / "xr.txt", 1) == b
    assert read_edid(f"{tmp_path / 'xr.txt'}#0") == a
    assert read_edid_file(tmp_path / "c.txt") == b
    with pytest.raises(EdidSourceError, match="holds 2 EDIDs"):
        read_edid_file(tmp_path / "xr.txt")
    (tmp_path / "none.txt").write_text("cafe\nno edid here\n")
    with pytest.raises(EdidError, match="no EDID found"):
        read_edid_file(tmp_path / "none.txt")
    with pytest.raises(EdidSourceError, match="cannot read"):
        read_edid_file(tmp_path / "missing.bin")


@settings(max_examples=100)
@given(edid_specs(), st.sampled_from([" ", "", "\t"]), st.integers(4, 32), st.booleans())
def test_hex_text_round_trip(spec, sep, per_line, upper):
    data = build_edid(spec)
    lines = [sep.join(f"{x:02X}" if upper else f"{x:02x}" for x in data[i:i + per_line])
             for i in range(0, len(data), per_line)]
    text = "Some tool output:\n\n" + "\n".join(lines) + "\n\nThe End\n"
    assert edids_from_text(text) == [data]


def _connector(root, name, status, edid=b"", enabled="enabled"):
    d = root / name
    d.mkdir(parents=True)
    (d / "status").write_text(status + "\n")
    (d / "enabled").write_text(enabled + "\n")
    (d / "edid").write_bytes(edid)


def test_drm_sysfs(tmp_path):
    room = build_edid(PANEL_86)
    _connector(tmp_path, "card0-eDP-1", "connected", build_edid(PROJECTOR))
    _connector(tmp_path, "card0-HDMI-A-1", "connected", room)
    _connector(tmp_path, "card0-DP-1", "disconnected", enabled="disabled")
    (tmp_path / "card0").mkdir()
    conns = list_drm_connectors(tmp_path)
    assert [c.name for c in conns] == ["card0-DP-1", "card0-HDMI-A-1", "card0-eDP-1"]
    assert [c.connected for c in conns] == [False, True, True]
    assert conns[0].enabled is False and conns[2].internal and conns[1].port == "HDMI-A-1"
    assert read_connector_edid(root=tmp_path) == room  # the one external display
    assert read_edid("drm:HDMI-A-1", tmp_path) == room
    assert read_edid("drm:card0-eDP-1", tmp_path) == build_edid(PROJECTOR)
    with pytest.raises(EdidSourceError, match="disconnected"):
        read_connector_edid("DP-1", tmp_path)
    with pytest.raises(EdidSourceError, match="no connector named"):
        read_connector_edid("VGA-1", tmp_path)
    _connector(tmp_path, "card1-HDMI-A-2", "connected", b"")
    with pytest.raises(EdidSourceError, match="no EDID read"):
        read_connector_edid("HDMI-A-2", tmp_path)
    _connector(tmp_path, "card1-DP-2", "connected", room)
    with pytest.raises(EdidSourceError, match="several displays"):
        read_connector_edid(root=tmp_path)
    with pytest.raises(EdidSourceError, match="no DRM sysfs"):
        list_drm_connectors(tmp_path / "nope")
