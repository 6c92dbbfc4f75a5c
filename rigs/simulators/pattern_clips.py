"""Clips of the classcert test pattern as equipment would deliver them, for the simulators.

The harness shows its own pattern to a recorder, a camera or a far classroom, so the
simulators serve that pattern, faithfully or spoiled the way real equipment spoils it:
upscaled from 720p, stretched from 1440x1080, interlaced, frozen, dropping pictures.
Clips are made once with PyAV and ffmpeg and cached in the system's temporary folder.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from pathlib import Path

# variant -> ffmpeg filter / options applied to the genuine clip (None: made directly)
_SPOILED: dict[str, tuple[str, tuple[str, ...]]] = {
    "upscaled_720p": ("scale=1280:720:flags=bicubic,scale=1920:1080:flags=bicubic", ()),
    "upscaled_540p": ("scale=960:540:flags=bicubic,scale=1920:1080:flags=bicubic", ()),
    "anamorphic_1440": ("scale=1440:1080:flags=bicubic,setsar=4/3", ()),
    "interlaced_1080i": ("", ("-flags", "+ildct+ilme", "-x264-params", "interlaced=1:tff=1")),
}
PATTERN_VARIANTS = ("genuine_1080p", "freezing", "dropping", *_SPOILED)
FPS = 25


def pattern_clip(variant: str, seconds: float = 4.0, cache_dir: str | Path | None = None) -> Path:
    """Path of an MP4 of the test pattern in ``variant`` (made on first use)."""
    if variant not in PATTERN_VARIANTS:
        raise ValueError(f"unknown pattern variant {variant!r}; known: "
                         f"{', '.join(PATTERN_VARIANTS)}")
    folder = Path(cache_dir or Path(tempfile.gettempdir()) / "classcert-pattern-clips")
    folder.mkdir(parents=True, exist_ok=True)
    tag = hashlib.sha1(repr((variant, seconds, _SPOILED.get(variant), 2)).encode()).hexdigest()[:8]
    out = folder / f"{variant}-{seconds:g}s-{tag}.mp4"
    if out.exists():
        return out
    tmp = folder / f".{out.stem}.{os.getpid()}.mp4"
    from classcert.video_pattern import write_pattern_clip

    count = int(round(seconds * FPS))
    if variant == "freezing":  # the picture stops halfway
        indices = [min(i, count // 2) for i in range(count)]
        write_pattern_clip(tmp, seconds, FPS, frame_indices=indices, gop=FPS)
    elif variant == "dropping":  # every fifth picture lost, timestamps regular
        indices = [i + i // 4 for i in range(count)]
        write_pattern_clip(tmp, seconds, FPS, frame_indices=indices, gop=FPS)
    else:
        genuine = pattern_clip("genuine_1080p", seconds, folder) if variant in _SPOILED else None
        if genuine is None:
            write_pattern_clip(tmp, seconds, FPS, gop=FPS)
        else:
            vf, extra = _SPOILED[variant]
            args = ["ffmpeg", "-v", "error", "-y", "-i", str(genuine)]
            if vf:
                args += ["-vf", vf]
            args += ["-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-g", str(FPS),
                     "-bf", "0", "-pix_fmt", "yuv420p", *extra, str(tmp)]
            subprocess.run(args, check=True, timeout=300)
    os.replace(tmp, out)
    return out
