"""Independent cross-check: our EDID parser against Debian's ``edid-decode`` on the same bytes."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from edid_fixtures import SAMPLES, Cta, build_edid, edid_specs
from hypothesis import HealthCheck, given, settings

from classcert.device_drivers.edid import VIC_MODES, Edid, parse_edid
from classcert.device_drivers.edid_source import edids_from_text

EDID_DECODE = shutil.which("edid-decode")
pytestmark = pytest.mark.skipif(
    EDID_DECODE is None, reason="edid-decode is not installed (Debian/Ubuntu: apt install "
    "edid-decode); the independent cross-check needs it")

_DTD = re.compile(r"DTD\s+\d+:\s+(\d+)x(\d+)(i?)\s+[\d.]+ Hz.*?MHz(?: \((\d+) mm x (\d+) mm\))?")
_VIC = re.compile(r"VIC\s+(\d+):\s+(\d+)x(\d+)(i?)\s+([\d.]+) Hz.*?( \(native\))?$")
_CHECKSUM = re.compile(r"^Checksum: 0x([0-9a-f]{2})( \(should be 0x[0-9a-f]{2}\))?", re.M)


@dataclass
class Decoded:
    """The fields we compare, as edid-decode printed them."""

    text: str
    manufacturer: str = ""
    model: int = -1
    serial: int = 0
    made: tuple[int, int] | None = None
    size_cm: tuple[int, int] | None = None
    aspect: float | None = None
    dtds: list[tuple[int, int, int, int]] = field(default_factory=list)  # h, v, h_mm, v_mm
    bad_blocks: list[int] = field(default_factory=list)
    name: str = ""
    serial_string: str = ""
    vics: list[tuple[int, int, int, bool, float, bool]] = field(default_factory=list)


def _one(pattern: str, text: str) -> re.Match[str] | None:
    return re.search(pattern, text, re.M)


def run_edid_decode(data: bytes) -> Decoded:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "edid.bin"
        path.write_bytes(data)
        proc = subprocess.run([EDID_DECODE, str(path)], capture_output=True, text=True,
                              timeout=20, check=False)
    out = proc.stdout
    assert "Block 0" in out, f"edid-decode failed (exit {proc.returncode}): {proc.stderr}"
    d = Decoded(out)
    if m := _one(r"Manufacturer: (\S+)", out):
        d.manufacturer = m.group(1)
    if m := _one(r"^\s+Model: (\d+)$", out):
        d.model = int(m.group(1))
    if m := _one(r"^\s+Serial Number: (\d+)$", out):
        d.serial = int(m.group(1))
    if m := _one(r"Made in: week (\d+) of (\d+)", out):
        d.made = (int(m.group(1)), int(m.group(2)))
    if m := _one(r"Maximum image size: (\d+) cm x (\d+) cm", out):
        d.size_cm = (int(m.group(1)), int(m.group(2)))
    if m := _one(r"Aspect ratio: ([\d.]+) \((landscape|portrait)\)", out):
        d.aspect = float(m.group(1))
    for m in _DTD.finditer(out):
        d.dtds.append((int(m.group(1)), int(m.group(2)), int(m.group(4) or 0),
                       int(m.group(5) or 0)))
    d.bad_blocks = [i for i, m in enumerate(_CHECKSUM.finditer(out)) if m.group(2)]
    if m := _one(r"Display Product Name: '(.*)'$", out):
        d.name = m.group(1)
    if m := _one(r"Display Product Serial Number: '(.*)'$", out):
        d.serial_string = m.group(1)
    for line in out.splitlines():
        if m := _VIC.search(line):
            d.vics.append((int(m.group(1)), int(m.group(2)), int(m.group(3)),
                           bool(m.group(4)), float(m.group(5)), bool(m.group(6))))
    return d


def assert_agrees(ours: Edid, theirs: Decoded) -> None:
    """Every compared field must match what edid-decode printed."""
    where = f"\n--- edid-decode said:\n{theirs.text}"
    assert ours.manufacturer == theirs.manufacturer, where
    assert ours.product_code == theirs.model, where
    assert ours.serial_number == theirs.serial, where
    assert (ours.week, ours.year) == theirs.made, where
    assert ours.screen_cm == theirs.size_cm, where
    if theirs.aspect is None:
        assert ours.aspect_ratio is None, where
    else:
        assert ours.aspect_ratio == pytest.approx(theirs.aspect, abs=0.006), where
    mine = [(t.h_active, t.v_active, t.h_image_mm, t.v_image_mm) for t in ours.all_dtds]
    assert mine == theirs.dtds, where
    pref = ours.preferred_timing
    assert (pref is None) == (not theirs.dtds), where
    if pref is not None:
        assert (pref.h_active, pref.v_active) == theirs.dtds[0][:2], where
    assert list(ours.bad_checksum_blocks) == theirs.bad_blocks, where
    assert ours.checksum_ok == (0 not in theirs.bad_blocks), where
    assert ours.name == theirs.name, where
    assert ours.serial_string == theirs.serial_string, where
    svds = [s for ext in ours.cta for s in ext.svds]
    assert [(s.vic, s.native) for s in svds] == [(v[0], v[5]) for v in theirs.vics], where


@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_hand_written_samples_agree(sample):
    data = build_edid(SAMPLES[sample])
    assert_agrees(parse_edid(data), run_edid_decode(data))


def test_samples_cover_the_interesting_cases():
    """The hand-written set really holds the cases edid-decode must confirm."""
    parsed = {k: parse_edid(build_edid(s)) for k, s in SAMPLES.items()}
    assert parsed["panel-86"].preferred_timing.image_mm == (1904, 1071)
    assert parsed["projector-0x0"].size_bytes == (0, 0)
    assert parsed["aspect-16x9-cm"].screen_cm == (16, 9)
    assert parsed["mm-1600x900"].preferred_timing.image_mm == (1600, 900)
    assert not parsed["bad-checksum"].checksum_ok
    assert parsed["aspect-1.4-encoding"].aspect_ratio == pytest.approx(1.78)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edid_specs(min_clock_khz=10_000))
def test_generated_edids_agree(spec):
    data = build_edid(spec)
    assert_agrees(parse_edid(data), run_edid_decode(data))


def test_vic_table_agrees():
    """Every VIC in our table: same active size, scan and rate as edid-decode prints."""
    vics = sorted(VIC_MODES)
    exts = tuple(Cta(vics=tuple(vics[i:i + 31])) for i in range(0, len(vics), 31))
    theirs = {v[0]: v for v in run_edid_decode(build_edid(extensions=exts)).vics}
    assert sorted(theirs) == vics
    for vic, mode in VIC_MODES.items():
        _, w, h, interlaced, hz, _ = theirs[vic]
        assert (mode.width, mode.height, mode.interlaced) == (w, h, interlaced), vic
        assert mode.refresh_hz == pytest.approx(hz, abs=0.001), vic


@pytest.mark.parametrize("sample", ["panel-86", "projector-0x0", "bad-checksum"])
def test_edid_decode_hex_dump_reads_back(sample):
    """The hex dump edid-decode prints is accepted by our text reader, byte for byte."""
    data = build_edid(SAMPLES[sample])
    assert edids_from_text(run_edid_decode(data).text) == [data]
