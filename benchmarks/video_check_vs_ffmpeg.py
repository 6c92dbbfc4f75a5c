"""Time `classcert video check CLIP --json` against `ffmpeg -v error -i CLIP -f null -`.

Makes a 60 s 1080p25 H.264 clip of the harness pattern (unless --clip is given), runs both
in the same process run, and prints the ratio. Target: ratio <= 1.3.

    .venv/bin/python benchmarks/video_check_vs_ffmpeg.py [--seconds 60] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from classcert.video_pattern import write_pattern_clip

TARGET = 1.3


def timed(cmd: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return elapsed, proc.stdout


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", help="use this clip instead of generating one")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--repeat", type=int, default=2, help="runs of each; the best is kept")
    args = ap.parse_args()
    if shutil.which("ffmpeg") is None:
        print("ffmpeg not found: apt-get install ffmpeg", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(args.clip) if args.clip else Path(tmp) / "pattern-1080p25.mp4"
        if not args.clip:
            t0 = time.perf_counter()
            write_pattern_clip(clip, args.seconds, 25.0, 1920, 1080, crf=20, preset="veryfast",
                               gop=50)
            print(f"clip: {clip.name}, {args.seconds:g} s 1080p25, "
                  f"{clip.stat().st_size / 1e6:.1f} MB, made in {time.perf_counter() - t0:.1f} s")
        check = [sys.executable, "-m", "classcert.video_cli", "check", str(clip), "--json",
                 "--duration", str(args.seconds + 10)]
        ref = ["ffmpeg", "-v", "error", "-i", str(clip), "-f", "null", "-"]
        ours, theirs = [], []
        doc: dict = {}
        for _ in range(max(1, args.repeat)):  # interleaved, so both see the same machine load
            t, out = timed(check)
            ours.append(t)
            doc = json.loads(out)
            theirs.append(timed(ref)[0])
    best_ours, best_ref = min(ours), min(theirs)
    ratio = best_ours / best_ref
    runs_ours = ", ".join(f"{t:.2f}" for t in ours)
    runs_ref = ", ".join(f"{t:.2f}" for t in theirs)
    print(f"classcert video check: {best_ours:.2f} s  (runs: {runs_ours})")
    print(f"ffmpeg -f null:        {best_ref:.2f} s  (runs: {runs_ref})")
    print(f"frames {doc.get('frames')}, verdict {doc.get('verdict')!r}")
    print(f"ratio {ratio:.2f} (target <= {TARGET}) {'OK' if ratio <= TARGET else 'OVER TARGET'}")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
