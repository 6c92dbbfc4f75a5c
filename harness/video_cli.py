"""`classcert video check` and `classcert video pattern`.

``add_video_parser(subparsers)`` adds the ``video`` command to the ``classcert`` parser.
Exit codes of ``check``: 0 conforming, 1 not conforming, 2 could not test.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from classcert.video_expectations import (
    COULD_NOT_TEST,
    EXPECTATION_NAMES,
    NOT_CONFORMING,
    evaluate,
    format_ratio,
    get_expectation,
)

EXIT = {"conforming": 0, NOT_CONFORMING: 1, COULD_NOT_TEST: 2}
VERDICT_ZH = {"conforming": "符合", NOT_CONFORMING: "不符合", COULD_NOT_TEST: "无法测试"}


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a number > 0 / 必须为大于 0 的数")
    return value


def parse_size(text: str) -> tuple[int, int]:
    """"1920x1080" -> (1920, 1080); both even and at least 160x90."""
    w, sep, h = text.lower().partition("x")
    try:
        width, height = int(w), int(h)
    except ValueError:
        width = height = 0
    if not sep or width < 160 or height < 90 or width % 2 or height % 2:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give WIDTHxHEIGHT, even numbers, at least 160x90 / 尺寸格式应为 宽x高")
    return width, height


def add_video_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``video`` (with ``check`` and ``pattern``) to the sub-parsers of ``classcert``."""
    p = subparsers.add_parser("video", help="check video quality on the picture / 视频画面质量检测")
    sub = p.add_subparsers(dest="video_command", required=True)
    check = sub.add_parser(
        "check", help="measure a video file or stream / 检测视频文件或视频流",
        description="Decode a file or an HTTP(S)/HLS/RTSP stream and check that the picture "
                    "itself (not the header) meets the expectation. / 解码视频并检测画面本身。")
    check.add_argument("source", help="file path or URL (http, https, .m3u8, rtsp)")
    check.add_argument("--expect", default="1080p", choices=EXPECTATION_NAMES,
                       help="expected quality (default 1080p) / 期望的画质")
    check.add_argument("--duration", type=_positive, default=120.0,
                       help="analyse at most S seconds of video (default 120) / 最多分析的秒数")
    check.add_argument("--timeout", type=_positive, default=10.0,
                       help="network timeout in seconds (default 10) / 网络超时（秒）")
    check.add_argument("--json", action="store_true", help="print JSON / 输出 JSON")
    check.add_argument("--evidence", metavar="DIR",
                       help="write a few evidence frames as PNG into DIR / 保存证据截图")
    check.set_defaults(func=run_check)
    pat = sub.add_parser(
        "pattern", help="write the harness test pattern clip / 生成测试图样视频",
        description="Encode the harness test pattern (zone plate, multi-burst, frame counter, "
                    "moving strip) as progressive H.264. / 生成测试图样视频（逐行 H.264）。")
    pat.add_argument("--out", required=True, help="output file (.mp4, .mkv, .ts)")
    pat.add_argument("--duration", type=_positive, default=10.0, help="seconds (default 10)")
    pat.add_argument("--fps", type=_positive, default=25.0, help="frame rate (default 25)")
    pat.add_argument("--size", type=parse_size, default=(1920, 1080),
                     help="WIDTHxHEIGHT (default 1920x1080)")
    pat.add_argument("--crf", type=int, default=20, help="x264 quality, lower is better")
    pat.set_defaults(func=run_pattern)
    return p


def result_json(r: Any, verdict: str, reasons: list[dict[str, str]]) -> dict[str, Any]:
    """The JSON document of ``video check`` for a ProbeResult."""
    eff = None
    if r.effective is not None:
        eff = {"lines": r.effective["lines"], "method": r.effective["method"]}
    dar = r.display_aspect_ratio
    return {
        "source": r.source,
        "width": r.width,
        "height": r.height,
        "sample_aspect_ratio": format_ratio(r.sample_aspect_ratio),
        "display_aspect_ratio": format_ratio(dar) if dar is not None else None,
        "progressive": r.progressive,
        "interlaced_frames": r.interlaced_frames,
        "combing": r.combing,
        "fps_measured": r.fps_measured,
        "fps_declared": r.fps_declared,
        "frames": r.frames,
        "dropped_frames": r.dropped_frames,
        "pattern_frames_missing": r.pattern_frames_missing,
        "frozen_seconds": r.frozen_seconds,
        "frozen_total_seconds": r.frozen_total_seconds,
        "black_seconds": r.black_seconds,
        "bitrate_kbps": {"mean": r.bitrate_mean_kbps, "min": r.bitrate_min_kbps},
        "duration": r.duration,
        "effective_resolution": eff,
        "verdict": verdict,
        "reasons": reasons,
        "notes": [{"en": en, "zh": zh} for en, zh in r.notes],
        "evidence": r.evidence,
    }


def _error_json(source: str, en: str, zh: str) -> dict[str, Any]:
    keys = ("width", "height", "sample_aspect_ratio", "progressive", "fps_measured", "frames",
            "dropped_frames", "frozen_seconds", "black_seconds", "effective_resolution")
    doc: dict[str, Any] = {"source": source, **dict.fromkeys(keys)}
    doc.update(bitrate_kbps={"mean": None, "min": None}, verdict=COULD_NOT_TEST,
               reasons=[{"en": en, "zh": zh}], notes=[], evidence=[])
    return doc


def _print_human(doc: dict[str, Any]) -> None:
    def show(value: Any) -> str:
        return "-" if value is None else str(value)

    print(f"source / 信号源:        {doc['source']}")
    if doc.get("frames"):
        print(f"picture / 画面:         {doc['width']}x{doc['height']}, pixel aspect "
              f"{doc['sample_aspect_ratio']}, "
              f"{'progressive / 逐行' if doc['progressive'] else 'interlaced / 隔行'}")
        print(f"frame rate / 帧率:      {show(doc['fps_measured'])} fps measured "
              f"(declared {show(doc['fps_declared'])}), {doc['frames']} frames, "
              f"{doc['dropped_frames']} dropped")
        print(f"frozen / 冻结:          longest {doc['frozen_seconds']} s; "
              f"black / 黑屏: {doc['black_seconds']} s")
        br = doc["bitrate_kbps"]
        print(f"bitrate / 码率:         mean {show(br['mean'])} kbps, "
              f"min {show(br['min'])} kbps per second")
        eff = doc["effective_resolution"]
        detail = f"{eff['lines']} lines ({eff['method']})" if eff else "not measured / 未测量"
        print(f"effective resolution / 有效分辨率: {detail}")
    for note in doc.get("notes", []):
        print(f"note / 备注: {note['en']} / {note['zh']}")
    for path in doc.get("evidence", []):
        print(f"evidence / 证据: {path}")
    verdict = doc["verdict"]
    print(f"verdict / 结论: {verdict} / {VERDICT_ZH[verdict]}")
    for reason in doc["reasons"]:
        print(f"  - {reason['en']}\n    {reason['zh']}")


def run_check(args: argparse.Namespace) -> int:
    """Entry point of ``classcert video check``; returns the exit code."""
    from classcert.video_probe import ProbeError, probe

    try:
        exp = get_expectation(args.expect)
        result = probe(args.source, max_seconds=args.duration, evidence_dir=args.evidence,
                       timeout_s=args.timeout)
    except ProbeError as exc:
        doc = _error_json(args.source, exc.en, exc.zh)
    except ImportError as exc:
        doc = _error_json(args.source, f"PyAV is not installed ({exc}): pip install av",
                          "未安装 PyAV：请执行 pip install av")
    else:
        verdict, reasons = evaluate(result, exp)
        doc = result_json(result, verdict, reasons)
        if result.effective is None:
            doc["notes"].append({"en": "effective resolution not measured",
                                 "zh": "未测量有效分辨率"})
    if args.json:
        print(json.dumps(doc, ensure_ascii=False, indent=2))
    else:
        _print_human(doc)
    return EXIT[doc["verdict"]]


def run_pattern(args: argparse.Namespace) -> int:
    """Entry point of ``classcert video pattern``."""
    from classcert.video_pattern import write_pattern_clip

    width, height = args.size
    try:
        path = write_pattern_clip(args.out, args.duration, args.fps, width, height, crf=args.crf)
    except (OSError, ValueError) as exc:
        print(f"error: cannot write {args.out}: {exc} / 无法写入文件", file=sys.stderr)
        return 2
    except ImportError as exc:
        print(f"error: PyAV is not installed ({exc}): pip install av / 未安装 PyAV",
              file=sys.stderr)
        return 2
    print(f"wrote {path}: {width}x{height} {args.fps:g} fps {args.duration:g} s, progressive "
          f"H.264 / 已生成测试图样视频")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (``python -m classcert.video_cli check ...``) until cli.py wires it."""
    parser = argparse.ArgumentParser(prog="classcert")
    add_video_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["video", *(argv if argv is not None else sys.argv[1:])])
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
