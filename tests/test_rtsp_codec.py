"""RTSP/RTP/SDP/H.264-SPS codec: round trips, fuzzing, known vectors, SPS written by x264."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classcert.device_drivers import rtsp_codec as c
from classcert.rigs.simulators.rtsp_sim import group_access_units, packetize_h264, split_annexb

TOKEN = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
                min_size=1, max_size=16)
VALUE = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=40).map(
    str.strip)
HEADERS = st.lists(st.tuples(TOKEN.filter(lambda k: k.lower() != "content-length"), VALUE),
                   max_size=6)
URI = st.from_regex(r"rtsp://[a-z0-9.]{1,12}(:[0-9]{1,5})?(/[A-Za-z0-9=_.-]{0,10}){0,3}",
                    fullmatch=True)


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(x, len(data)) for x in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


def _feed_all(data: bytes, cuts: list[int]) -> list[c.RtspMessage]:
    parser, out = c.RtspStreamParser(), []
    for chunk in _chunks(data, cuts):
        out += parser.feed(chunk)
    assert parser.pending == 0
    return out


def _plain(headers) -> tuple:
    return tuple((k, v) for k, v in headers if k.lower() != "content-length")


@settings(max_examples=150)
@given(method=TOKEN, uri=URI, headers=HEADERS, body=st.binary(max_size=300),
       frames=st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=200)), max_size=3),
       cuts=st.lists(st.integers(0, 2000), max_size=8))
def test_request_frames_round_trip_any_chunking(method, uri, headers, body, frames, cuts):
    req = c.RtspRequest(method, uri, (("CSeq", "7"), *headers), body)
    resp = c.RtspResponse(453, "Not Enough Bandwidth", (("CSeq", "7"),), body)
    data = c.encode_request(req) + b"".join(c.encode_interleaved(ch, p) for ch, p in frames)
    data += c.encode_response(resp)
    got = _feed_all(data, cuts)
    assert len(got) == 2 + len(frames)
    first, last = got[0], got[-1]
    assert isinstance(first, c.RtspRequest) and isinstance(last, c.RtspResponse)
    assert (first.method, first.uri, first.body, first.cseq) == (method, uri, body, 7)
    assert _plain(first.headers) == req.headers
    assert [(f.channel, f.payload) for f in got[1:-1]] == frames
    assert (last.status, last.reason, last.body) == (453, "Not Enough Bandwidth", body)


@settings(max_examples=300)
@given(data=st.binary(max_size=200))
def test_fuzz_parser_raises_only_decode_error(data):
    try:
        c.RtspStreamParser().feed(data)
    except c.RtspDecodeError:
        pass


@settings(max_examples=200)
@given(data=st.binary(max_size=120))
def test_fuzz_rtp_sdp_sps_raise_only_decode_error(data):
    for parse in (c.parse_rtp, c.parse_sps, lambda d: c.parse_sdp(d.decode("latin-1"))):
        try:
            parse(data)
        except c.RtspDecodeError:
            pass
    try:
        c.parse_sps(b"\x67" + data)
    except c.RtspDecodeError:
        pass


def test_garbage_rejected_before_headers_end():
    with pytest.raises(c.RtspDecodeError):
        c.RtspStreamParser().feed(b"\xff\xfb\x01\xff login:")
    with pytest.raises(c.RtspDecodeError):
        c.parse_message(b"HTTP/1.1 200 OK\r\n\r\n")
    assert c.parse_message(b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: 5\r\n\r\nab") is None


@settings(max_examples=200)
@given(pt=st.integers(0, 127), seq=st.integers(0, 0xFFFF), ts=st.integers(0, 2**32 - 1),
       ssrc=st.integers(0, 2**32 - 1), marker=st.booleans(), payload=st.binary(max_size=100),
       csrcs=st.lists(st.integers(0, 2**32 - 1), max_size=15).map(tuple))
def test_rtp_round_trip(pt, seq, ts, ssrc, marker, payload, csrcs):
    pkt = c.RtpPacket(pt, seq, ts, ssrc, marker, payload, csrcs)
    assert c.parse_rtp(c.encode_rtp(pkt)) == pkt


@settings(max_examples=150)
@given(pt=st.integers(96, 127), enc=st.sampled_from(["H264", "H265", "MP4V-ES"]),
       clock=st.sampled_from([90000, 8000]), w=st.integers(16, 4096), h=st.integers(16, 2160),
       fps=st.sampled_from([25.0, 29.97, 30.0, 50.0]), ctl=st.from_regex(r"trackID=[0-9]{1,2}",
                                                                         fullmatch=True),
       params=st.dictionaries(st.from_regex(r"[a-z][a-z-]{0,12}", fullmatch=True),
                              st.from_regex(r"[A-Za-z0-9+/=,]{1,20}", fullmatch=True),
                              max_size=4), crlf=st.booleans())
def test_sdp_round_trip(pt, enc, clock, w, h, fps, ctl, params, crlf):
    fmtp = ";".join(f"{k}={v}" for k, v in params.items())
    lines = ["v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=Room 101 录播", "t=0 0", "a=control:*",
             "m=audio 0 RTP/AVP 0", "a=control:audio", f"m=video 0 RTP/AVP {pt}",
             f"a=rtpmap:{pt} {enc}/{clock}", f"a=fmtp:{pt} {fmtp}", f"a=framerate:{fps}",
             f"a=x-dimensions:{w},{h}", f"a=control:{ctl}"]
    sdp = c.parse_sdp(("\r\n" if crlf else "\n").join(lines))
    video = sdp.first("video")
    assert sdp.session_name == "Room 101 录播" and sdp.control == "*"
    assert video is not None and video.formats == [str(pt)]
    assert video.rtpmap[pt] == (enc, clock, "") and video.fmtp.get(pt, {}) == params
    assert (video.framerate, video.dimensions, video.control) == (fps, (w, h), ctl)
    assert c.resolve_control("rtsp://h/s/", video.control) == f"rtsp://h/s/{ctl}"
    assert sdp.first("audio").control == "audio"


def test_header_value_helpers():
    assert c.parse_transport("RTP/AVP/TCP;unicast;interleaved=2-3") == {
        "profile": "RTP/AVP/TCP", "unicast": "", "interleaved": "2-3"}
    assert c.parse_range("2-3") == (2, 3) and c.parse_range("4") == (4, 5)
    assert c.parse_session("4A3F;timeout=60") == ("4A3F", 60)
    assert c.parse_challenge('Digest realm="cam, 1", nonce="ab"') == (
        "digest", {"realm": "cam, 1", "nonce": "ab"})
    assert c.parse_profile_level_id("64002A") == (100, 0, 42)
    with pytest.raises(c.RtspDecodeError):
        c.parse_profile_level_id("64002")
    with pytest.raises(c.RtspDecodeError):
        c.parse_sprop("Z0LA!!")


def test_digest_rfc2617_vector():
    # RFC 2617 section 3.5 example
    got = c.digest_response("Mufasa", "Circle Of Life", "testrealm@host.com",
                            "dcd98b7102dd2f0e8b11d0f600bfb0c093", "GET", "/dir/index.html",
                            "auth", "00000001", "0a4f113b")
    assert got == "6629fae49393a05397450978507c4ef1"
    header = c.digest_authorization("u", "p", {"realm": "r", "nonce": "n"}, "DESCRIBE", "rtsp://x/")
    params = c.parse_challenge(header)[1]
    assert params["response"] == c.digest_response("u", "p", "r", "n", "DESCRIBE", "rtsp://x/")
    assert c.basic_authorization("Aladdin", "open sesame") == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="


# ---------------------------------------------------------------- SPS writer (test only) --
class BitWriter:
    def __init__(self) -> None:
        self.bits: list[int] = []

    def u(self, n: int, v: int) -> None:
        self.bits += [(v >> (n - 1 - i)) & 1 for i in range(n)]

    def ue(self, v: int) -> None:
        code = v + 1
        self.u(code.bit_length() - 1, 0)
        self.u(code.bit_length(), code)

    def se(self, v: int) -> None:
        self.ue(2 * v - 1 if v > 0 else -2 * v)

    def nal(self, header: int) -> bytes:
        bits = self.bits + [1] + [0] * (-(len(self.bits) + 1) % 8)
        raw = bytes(int("".join(map(str, bits[i:i + 8])), 2) for i in range(0, len(bits), 8))
        return bytes([header]) + re.sub(b"\x00\x00(?=[\x00-\x03])", b"\x00\x00\x03", raw)


def write_sps(profile, level, mbs_w, map_h, frame_mbs_only, crop, sar_idc, sar_ext, timing,
              poc_type, sps_id=0) -> bytes:
    w = BitWriter()
    w.u(8, profile), w.u(8, 0), w.u(8, level), w.ue(sps_id)
    if profile == 100:
        w.ue(1), w.ue(0), w.ue(0), w.u(1, 0), w.u(1, 0)  # 4:2:0, 8 bit, no scaling matrix
    w.ue(0), w.ue(poc_type)
    if poc_type == 0:
        w.ue(2)
    elif poc_type == 1:
        w.u(1, 0), w.se(-1), w.se(3), w.ue(2), w.se(1), w.se(-2)
    w.ue(1), w.u(1, 0), w.ue(mbs_w - 1), w.ue(map_h - 1), w.u(1, frame_mbs_only)
    if not frame_mbs_only:
        w.u(1, 1)
    w.u(1, 1)
    w.u(1, 1 if any(crop) else 0)
    if any(crop):
        for v in crop:
            w.ue(v)
    vui = sar_idc is not None or timing is not None
    w.u(1, vui)
    if vui:
        w.u(1, sar_idc is not None)
        if sar_idc is not None:
            w.u(8, sar_idc)
            if sar_idc == 255:
                w.u(16, sar_ext[0]), w.u(16, sar_ext[1])
        w.u(1, 0), w.u(1, 0), w.u(1, 0)  # overscan, video signal, chroma loc
        w.u(1, timing is not None)
        if timing is not None:
            w.u(32, timing[0]), w.u(32, timing[1]), w.u(1, 1)
        w.u(1, 0), w.u(1, 0), w.u(1, 0), w.u(1, 0)  # nal/vcl hrd, pic_struct, restriction
    return w.nal(0x67)


@settings(max_examples=200)
@given(profile=st.sampled_from([66, 77, 100]), level=st.sampled_from([21, 31, 40, 51]),
       mbs_w=st.integers(1, 240), map_h=st.integers(1, 135), fmo=st.integers(0, 1),
       crop=st.tuples(*[st.integers(0, 3)] * 4), poc=st.integers(0, 2),
       sar_idc=st.one_of(st.none(), st.integers(1, 16), st.just(255)),
       sar_ext=st.tuples(st.integers(1, 1000), st.integers(1, 1000)),
       timing=st.one_of(st.none(), st.tuples(st.integers(1, 5000), st.integers(1, 10**6))))
def test_sps_round_trip(profile, level, mbs_w, map_h, fmo, crop, poc, sar_idc, sar_ext, timing):
    width = mbs_w * 16 - 2 * (crop[0] + crop[1])
    height = (2 - fmo) * map_h * 16 - 2 * (2 - fmo) * (crop[2] + crop[3])
    nal = write_sps(profile, level, mbs_w, map_h, fmo, crop, sar_idc, sar_ext, timing, poc)
    if width <= 0 or height <= 0:
        with pytest.raises(c.RtspDecodeError):
            c.parse_sps(nal)
        return
    info = c.parse_sps(nal)
    assert (info.width, info.height, info.interlaced) == (width, height, not fmo)
    assert (info.profile_idc, info.level_idc) == (profile, level)
    expected_sar = sar_ext if sar_idc == 255 else c._SAR.get(sar_idc) if sar_idc else None
    assert info.sar == expected_sar
    assert info.fps == (timing[1] / (2 * timing[0]) if timing else None)
    for cut in (1, len(nal) // 2):
        try:
            c.parse_sps(nal[:cut])
        except c.RtspDecodeError:
            pass


# ------------------------------------------------------------------- SPS from x264 ------
X264_CASES = [  # (size, rate, filters, extra args, profile, sar, interlaced)
    ("1920x1080", "25", "", [], "high", (1, 1), False),
    ("1280x720", "30000/1001", "", [], "main", (1, 1), False),
    ("1440x1080", "25", "setsar=4/3", [], "high", (4, 3), False),
    ("720x576", "25", "setsar=16/11", ["-flags", "+ildct+ilme", "-x264-params", "interlaced=1"],
     "high", (16, 11), True),
    ("322x238", "50", "", [], "baseline", (1, 1), False),
]


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
@pytest.mark.parametrize("size,rate,vf,extra,profile,sar,interlaced", X264_CASES)
def test_sps_from_x264(tmp_path: Path, size, rate, vf, extra, profile, sar, interlaced):
    out = tmp_path / "clip.h264"
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-f", "lavfi",
           "-i", f"testsrc2=size={size}:rate={rate}", "-frames:v", "2", "-c:v", "libx264",
           "-preset", "veryfast", "-profile:v", profile, *extra]
    cmd += (["-vf", vf] if vf else []) + ["-f", "h264", str(out)]
    subprocess.run(cmd, check=True, timeout=60)
    nals = split_annexb(out.read_bytes())
    info = c.parse_sps(next(n for n in nals if n[0] & 0x1F == 7))
    num, den = (int(x) for x in rate.split("/")) if "/" in rate else (int(rate), 1)
    assert f"{info.width}x{info.height}" == size
    assert (info.sar, info.interlaced) == (sar, interlaced)
    assert info.fps == pytest.approx(num / den, rel=1e-6)
    assert info.profile_idc == {"high": 100, "main": 77, "baseline": 66}[profile]
    assert len(group_access_units(nals)) == 2


# --------------------------------------------------------------- RFC 6184 packetizing ----
def depacketize(payloads: list[bytes]) -> list[bytes]:
    nals, frag = [], b""
    for p in payloads:
        kind = p[0] & 0x1F
        if kind == 28:
            if p[1] & 0x80:
                frag = bytes([(p[0] & 0xE0) | (p[1] & 0x1F)])
            frag += p[2:]
            if p[1] & 0x40:
                nals.append(frag)
        else:
            nals.append(p)
    return nals


@settings(max_examples=150)
@given(nals=st.lists(st.binary(min_size=1, max_size=3000).map(lambda b: bytes([0x65]) + b),
                     min_size=1, max_size=4), mtu=st.integers(3, 1500))
def test_fu_a_round_trip(nals, mtu):
    payloads = [p for n in nals for p in packetize_h264(n, mtu)]
    assert all(len(p) <= mtu for p in payloads)
    assert depacketize(payloads) == nals
