"""`classcert video check|pattern`: JSON keys, verdicts, reasons and exit codes."""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from classcert.video_cli import main, parse_size
from classcert.video_expectations import evaluate, get_expectation, parse_ratio
from classcert.video_pattern import write_pattern_clip
from classcert.video_probe import ProbeResult

KEYS = {"width", "height", "sample_aspect_ratio", "progressive", "fps_measured", "frames",
        "dropped_frames", "frozen_seconds", "black_seconds", "bitrate_kbps",
        "effective_resolution", "verdict", "reasons"}


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict]:
    code = main(["check", *args, "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert KEYS <= set(doc)
    assert set(doc["bitrate_kbps"]) == {"mean", "min"}
    return code, doc


@pytest.fixture(scope="module")
def genuine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_pattern_clip(tmp_path_factory.mktemp("cli") / "g.mp4", 2.0, 25)


def test_genuine_1080p_conforms(genuine: Path, capsys, tmp_path: Path) -> None:
    code, doc = run_json(capsys, str(genuine), "--evidence", str(tmp_path / "ev"))
    assert (code, doc["verdict"], doc["reasons"]) == (0, "conforming", [])
    assert (doc["width"], doc["height"], doc["sample_aspect_ratio"]) == (1920, 1080, "1:1")
    assert doc["progressive"] is True and doc["frames"] == 50
    assert doc["evidence"] and all(Path(p).is_file() for p in doc["evidence"])
    if doc["effective_resolution"] is not None:
        assert doc["effective_resolution"]["lines"] >= 1080


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
def test_anamorphic_1440_not_conforming(genuine: Path, capsys, tmp_path: Path) -> None:
    out = tmp_path / "sar.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(genuine), "-t", "1", "-vf",
                    "scale=1440:1080,setsar=4/3", "-c:v", "libx264", "-preset", "ultrafast",
                    str(out)], check=True, timeout=60)
    code, doc = run_json(capsys, str(out))
    assert (code, doc["verdict"], doc["sample_aspect_ratio"]) == (1, "not conforming", "4:3")
    texts = " ".join(r["en"] for r in doc["reasons"])
    assert "pixels are not square (1440x1080 stretched to 16:9" in texts
    assert all(r["zh"] for r in doc["reasons"])


def test_garbage_file_could_not_test(tmp_path: Path, capsys) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 1000)
    code, doc = run_json(capsys, str(junk))
    assert (code, doc["verdict"]) == (2, "could not test")
    assert doc["reasons"][0]["en"] and doc["reasons"][0]["zh"]


def test_refused_http_could_not_test(capsys) -> None:
    with socket.socket() as s:  # a port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, doc = run_json(capsys, f"http://127.0.0.1:{port}/clip.mp4", "--timeout", "3")
    assert (code, doc["verdict"]) == (2, "could not test")


def test_human_output_is_bilingual(genuine: Path, capsys) -> None:
    assert main(["check", str(genuine), "--duration", "1"]) == 0
    out = capsys.readouterr().out
    assert "verdict / 结论: conforming / 符合" in out and "25 frames" in out


def test_pattern_command_writes_clip(tmp_path: Path, capsys) -> None:
    out = tmp_path / "pat.mp4"
    assert main(["pattern", "--duration", "1", "--fps", "25", "--size", "320x180",
                 "--out", str(out)]) == 0
    assert out.stat().st_size > 1000
    assert "wrote" in capsys.readouterr().out
    code, doc = run_json(capsys, str(out))
    assert (doc["width"], doc["height"], doc["frames"]) == (320, 180, 25)
    assert code == 1 and "not 1920x1080" in doc["reasons"][0]["en"]


def _result(**kw: object) -> ProbeResult:
    base = dict(source="x", width=1920, height=1080, fps_measured=25.0, frames=250)
    base.update(kw)
    return ProbeResult(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(("kw", "words"), [
    ({"progressive": False}, "interlaced (1080i)"),
    ({"fps_measured": 15.0}, "frame rate 15.00 fps is below 25 fps"),
    ({"frozen_seconds": 3.2}, "picture froze for 3.2 s"),
    ({"dropped_frames": 2}, "0.8 % of pictures were dropped"),
    ({"effective": {"lines": 720, "method": "m"}},
     "picture detail equals a 720p source upscaled to 1080 lines"),
])
def test_each_rule_explains_itself(kw: dict, words: str) -> None:
    verdict, reasons = evaluate(_result(**kw), get_expectation("1080p"))
    assert verdict == "not conforming" and len(reasons) == 1
    assert words in reasons[0]["en"] and "JJ010302.P4" in reasons[0]["en"]


def test_limits_are_inclusive_where_the_standard_allows() -> None:
    ok = _result(frozen_seconds=1.0, dropped_frames=1, frames=300,
                 effective={"lines": 1080, "method": "m"})
    assert evaluate(ok, get_expectation("1080p")) == ("conforming", [])


@given(st.integers(1, 10_000), st.integers(1, 10_000), st.sampled_from([":", "/"]))
def test_parse_ratio(num: int, den: int, sep: str) -> None:
    assert parse_ratio(f"{num}{sep}{den}") == Fraction(num, den)


@given(st.integers(80, 4000), st.integers(45, 3000))
def test_parse_size(w: int, h: int) -> None:
    w, h = w * 2, h * 2
    assert parse_size(f"{w}x{h}") == (w, h)
    with pytest.raises(argparse.ArgumentTypeError):
        parse_size(f"{w + 1}x{h}")
