"""H.264 clips for the RTSP simulator: named variants made once with ffmpeg, clip loading,
Annex-B splitting, access unit grouping and RFC 6184 packetization (single NAL unit, FU-A).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from classcert.device_drivers import rtsp_codec as codec

MTU = 1400
CLOCK = 90000
_START = re.compile(rb"\x00\x00\x01")
# name -> (lavfi source, extra video filter, extra ffmpeg output args, sim knobs)
VARIANTS: dict[str, tuple[str, str, tuple[str, ...], dict]] = {
    "genuine_1080p": ("testsrc2=size=1920x1080:rate=25", "", (), {}),
    "upscaled_720p": ("testsrc2=size=1280x720:rate=25", "scale=1920:1080:flags=bilinear", (), {}),
    "anamorphic_1440": ("testsrc2=size=1440x1080:rate=25", "setsar=4/3", (), {}),
    "interlaced_1080i": ("testsrc2=size=1920x1080:rate=25", "",
                         ("-flags", "+ildct+ilme", "-x264-params", "interlaced=1:tff=1"), {}),
    "freezing": ("testsrc2=size=1920x1080:rate=25:duration={half}",
                 "tpad=stop_mode=clone:stop_duration={half}", (), {}),
    "dropping": ("testsrc2=size=1920x1080:rate=25", "select='not(eq(mod(n\\,5)\\,4))'",
                 ("-fps_mode", "passthrough"), {"drop_every": 5}),
    "small": ("testsrc2=size=320x240:rate=25", "", (), {}),
}


@dataclass(frozen=True)
class Clip:
    """An H.264 stream split into access units (each a list of NAL units without start code)."""

    access_units: list[list[bytes]]
    sps: bytes
    pps: bytes
    fps: float

    @property
    def info(self) -> codec.SpsInfo:
        return codec.parse_sps(self.sps)

    def sprop(self) -> str:
        return ",".join(base64.b64encode(n).decode("ascii") for n in (self.sps, self.pps))


def split_annexb(data: bytes) -> list[bytes]:
    """Annex-B byte stream -> NAL units (start codes and trailing zero bytes removed)."""
    parts = _START.split(data)[1:]  # bytes before the first start code are not a NAL unit
    return [p for p in (part.rstrip(b"\x00") for part in parts) if p]


def group_access_units(nals: list[bytes]) -> list[list[bytes]]:
    """Group NAL units into access units (H.264 7.4.1.2.3, first slice of each picture)."""
    units: list[list[bytes]] = []
    current: list[bytes] = []
    has_vcl = False
    for nal in nals:
        kind = nal[0] & 0x1F
        new_pic = kind in (1, 5) and len(nal) > 1 and nal[1] & 0x80  # first_mb_in_slice == 0
        if has_vcl and (kind in (6, 7, 8, 9) or new_pic):
            units.append(current)
            current, has_vcl = [], False
        current.append(nal)
        has_vcl = has_vcl or kind in (1, 5)
    if current and has_vcl:
        units.append(current)
    return units


def packetize_h264(nal: bytes, mtu: int = MTU) -> list[bytes]:
    """RFC 6184 payloads for one NAL unit: itself if it fits, else FU-A fragments."""
    if len(nal) <= mtu:
        return [nal]
    indicator = (nal[0] & 0xE0) | 28
    kind, body, size = nal[0] & 0x1F, nal[1:], mtu - 2
    chunks = [body[i:i + size] for i in range(0, len(body), size)]
    out = []
    for i, chunk in enumerate(chunks):
        header = kind | (0x80 if i == 0 else 0) | (0x40 if i == len(chunks) - 1 else 0)
        out.append(bytes([indicator, header]) + chunk)
    return out


def load_clip(path: str | Path, fps: float | None = None) -> Clip:
    """Read an Annex-B file, or convert any other container with ffmpeg (stream copy)."""
    path = Path(path)
    if path.suffix.lower() in (".h264", ".264", ".avc"):
        data = path.read_bytes()
    else:
        data = _ffmpeg(["-i", str(path), "-map", "0:v:0", "-c:v", "copy", "-bsf:v",
                        "h264_mp4toannexb", "-f", "h264", "pipe:1"], capture=True)
    units = group_access_units(split_annexb(data))
    params = {n[0] & 0x1F: n for unit in units for n in unit if n[0] & 0x1F in (7, 8)}
    if not units or 7 not in params or 8 not in params:
        raise ValueError(f"{path}: no H.264 access units with SPS and PPS found / "
                         f"文件中没有含 SPS/PPS 的 H.264 视频")
    rate = fps or codec.parse_sps(params[7]).fps or 25.0
    return Clip(units, params[7], params[8], rate)


def _ffmpeg(args: list[str], capture: bool = False, timeout: float = 120) -> bytes:
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise RuntimeError("ffmpeg not found: install it (apt-get install ffmpeg) / 未找到 ffmpeg")
    proc = subprocess.run([exe, "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args],
                          capture_output=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg failed: {proc.stderr.decode(errors='replace')[-400:]}")
    return proc.stdout if capture else b""


def make_clip(variant: str, seconds: float = 2.0, cache_dir: str | Path | None = None) -> Path:
    """Generate (once, cached) the Annex-B clip of a named variant with ffmpeg/x264."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown clip variant {variant!r}; known: {', '.join(VARIANTS)}")
    source, vf, extra, _ = VARIANTS[variant]
    half = f"{seconds / 2:g}"
    folder = Path(cache_dir or Path(tempfile.gettempdir()) / "classcert-rtsp-clips")
    folder.mkdir(parents=True, exist_ok=True)
    tag = hashlib.sha1(repr((VARIANTS[variant], seconds)).encode()).hexdigest()[:10]
    out = folder / f"{variant}-{seconds:g}s-{tag}.h264"  # a changed recipe makes a new file
    if not out.exists():
        tmp = folder / f".{out.name}.{os.getpid()}.{threading.get_ident()}.h264"
        args = ["-f", "lavfi", "-i", source.format(half=half), "-t", f"{seconds:g}"]
        if vf:
            args += ["-vf", vf.format(half=half)]
        args += ["-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-bf", "0", *extra,
                 "-f", "h264", str(tmp)]
        _ffmpeg(args)
        os.replace(tmp, out)
    return out
