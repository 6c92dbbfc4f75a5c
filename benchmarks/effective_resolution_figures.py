"""Print the figures that justify the effective-resolution thresholds of classcert.video_detail.

The calibration pattern (1920x1080 zone plate) is scaled down to each lower source size and
back up with the common swscale scalers, encoded with libx264 at classroom settings, decoded,
and measured. For every case the table shows the band density (dB re the detail below) just
above each candidate class's Nyquist limit and the class reported. The end summary gives the
margin between the weakest genuine band and the strongest band that should be empty.

    .venv/bin/python benchmarks/effective_resolution_figures.py [--frames 12] [--quick]

Needs the ffmpeg command-line tool with libx264. Takes a few minutes for the full matrix.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from classcert import video_detail as vd

WIDTH, HEIGHT, FPS = 1920, 1080, 25
SOURCES: dict[str, tuple[int, int]] = {
    "1080 genuine": (1920, 1080),
    "1440x1080": (1440, 1080),
    "900p": (1600, 900),
    "720p": (1280, 720),
    "576p": (1024, 576),
    "540p": (960, 540),
    "480p": (854, 480),
}
SCALERS = ("bilinear", "bicubic", "lanczos")
ENCODINGS: dict[str, list[str]] = {
    "raw": [],
    "crf18": ["-crf", "18"],
    "crf23": ["-crf", "23"],
    "crf28": ["-crf", "28"],
    "8Mbps": ["-b:v", "8M", "-maxrate", "8M", "-bufsize", "8M"],
    "4Mbps": ["-b:v", "4M", "-maxrate", "4M", "-bufsize", "4M"],
}
TIMEOUT_S = 300


def _run(cmd: list[str], data: bytes | None = None) -> bytes:
    proc = subprocess.run(cmd, input=data, capture_output=True, timeout=TIMEOUT_S, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:6])}... failed: {proc.stderr.decode()[-400:]}")
    return proc.stdout


def round_trip(
    frames: list[np.ndarray], source: tuple[int, int], scaler: str, encoding: list[str] | None
) -> list[np.ndarray]:
    """Scale down to ``source`` and back with ``scaler``, optionally H.264 encode + decode."""
    sw, sh = source
    chain = []
    if (sw, sh) != (WIDTH, HEIGHT):
        chain = [f"scale={sw}:{sh}:flags={scaler}", f"scale={WIDTH}:{HEIGHT}:flags={scaler}"]
    src = ["-f", "rawvideo", "-pix_fmt", "gray", "-s", f"{WIDTH}x{HEIGHT}", "-r", str(FPS)]
    raw = b"".join(f.tobytes() for f in frames)
    base = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *src, "-i", "-"]
    if encoding is None or not encoding:
        vf = ",".join(chain) or "null"
        out = _run([*base, "-vf", vf, "-f", "rawvideo", "-pix_fmt", "gray", "-"], raw)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            path = str(Path(tmp) / "clip.mp4")
            vf = ",".join([*chain, "format=yuv420p"])
            _run([*base, "-vf", vf, "-c:v", "libx264", "-preset", "medium", *encoding, path], raw)
            out = _run(
                ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-i", path,
                 "-f", "rawvideo", "-pix_fmt", "gray", "-"]
            )  # fmt: skip
    n = len(out) // (WIDTH * HEIGHT)
    return [np.frombuffer(out, np.uint8, WIDTH * HEIGHT, i * WIDTH * HEIGHT).reshape(HEIGHT, WIDTH)
            for i in range(n)]  # fmt: skip


def expected_lines(name: str) -> int:
    """Class the measure should report for a source (1440x1080 counts as its 1280-wide class)."""
    sw, sh = SOURCES[name]
    tops = [HEIGHT] + [c for c in vd.LINE_CLASSES if c < HEIGHT]
    return next(c for c in tops if c <= sh and c <= sw * HEIGHT / WIDTH + 0.5)


def _rank(lines: int) -> int:
    tops = [HEIGHT] + [c for c in vd.LINE_CLASSES if c < HEIGHT]
    return tops.index(lines) if lines in tops else len(tops)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=12, help="frames per clip (default 12)")
    ap.add_argument("--quick", action="store_true", help="only 1080/720/540 at raw and CRF 23")
    args = ap.parse_args(argv)
    if shutil.which("ffmpeg") is None:
        print("ffmpeg not found: apt-get install ffmpeg / 未找到 ffmpeg", file=sys.stderr)
        return 2
    sources = ["1080 genuine", "720p", "540p"] if args.quick else list(SOURCES)
    encodings = ["raw", "crf23"] if args.quick else list(ENCODINGS)
    frames = [vd.calibration_pattern(WIDTH, HEIGHT, i) for i in range(max(1, args.frames))]
    print(f"probe populated when >= {vd.FULL_DB:g} dB (top probe) / {vd.LOWER_DB:g} dB (lower) "
          f"re coarse detail; guard {vd.GUARD:g}, probe width {vd.PROBE_WIDTH:g} Nyquist")
    print(f"{'source':13} {'scaler':8} {'enc':6} | {'vertical band dB by class':40} | "
          f"{'horizontal band dB by width':52} | class  ok")  # fmt: skip
    # [top probe, lower probes] x [weakest populated, strongest empty]
    worst = [(float("inf"), ""), (float("inf"), "")]
    best = [(float("-inf"), ""), (float("-inf"), "")]
    failures = exact = cases = 0
    started = time.monotonic()
    for name in sources:
        for scaler in SCALERS if name != "1080 genuine" else ("-",):
            for enc in encodings:
                out = round_trip(frames, SOURCES[name], scaler, ENCODINGS[enc])
                res = vd.effective_resolution(out, HEIGHT)
                sw, sh = SOURCES[name]
                for d, size in ((res.vertical, sh), (res.horizontal, sw)):
                    assert d is not None
                    for i, (cls, db) in enumerate(d.band_db.items()):
                        tier, case = min(i, 1), f"{name} {scaler} {enc} {d.direction} {cls}"
                        if cls < size:  # the source has detail in this probe
                            worst[tier] = min(worst[tier], (db, case))
                        else:  # the probe lies above the source's limit
                            best[tier] = max(best[tier], (db, case))
                exp = expected_lines(name)
                ok = res.lines == exp or (
                    exp < res.lines < HEIGHT or res.lines < exp < HEIGHT
                ) and abs(_rank(res.lines) - _rank(exp)) <= 1
                exact += res.lines == exp
                failures += not ok
                cases += 1
                assert res.vertical is not None and res.horizontal is not None
                v = " ".join(f"{c}:{db:6.1f}" for c, db in res.vertical.band_db.items())
                h = " ".join(f"{c}:{db:6.1f}" for c, db in res.horizontal.band_db.items())
                print(f"{name:13} {scaler:8} {enc:6} | {v:40} | {h:52} | "
                      f"{res.class_name:6} {'exact' if res.lines == exp else 'ok' if ok else 'NO'}",
                      flush=True)  # fmt: skip
    for tier, (label, thr) in enumerate((("top probe", vd.FULL_DB), ("lower probes", vd.LOWER_DB))):
        print(f"\n{label} (threshold {thr:g} dB)")
        print(f"  weakest with source detail: {worst[tier][0]:6.1f} dB  ({worst[tier][1]})")
        print(f"  strongest above the source: {best[tier][0]:6.1f} dB  ({best[tier][1]})")
        print(f"  margins: {worst[tier][0] - thr:+.1f} dB (detail kept), "
              f"{thr - best[tier][0]:+.1f} dB (detail absent)")
    print(f"\n{cases} cases: {exact} exact class, {failures} wrong by more than one lower class "
          f"or wrong about full resolution; {time.monotonic() - started:.0f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
