"""`classcert run`: one campaign over a rig, through pytest, into an output directory."""

from __future__ import annotations

import json
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from classcert.fixtures.campaign import STORE_NAME
from classcert.reports.room_outputs import SUMMARY_NAME

EXIT_CERTIFIED = 0
EXIT_NOT_CERTIFIED = 1
EXIT_HARNESS_ERROR = 2


@dataclass(frozen=True)
class RunOptions:
    rig: Path
    out: Path
    profile: str | None = None
    rooms: tuple[str, ...] = ()
    resume: bool = False
    fresh: bool = False
    attest: Path | None = None
    operator: str | None = None
    no_prompt: bool = False
    extra_pytest_args: tuple[str, ...] = ()


def suites_dir() -> Path:
    import classcert.test_suites

    return Path(classcert.test_suites.__file__).parent


def _sigterm_as_interrupt(signum: int, frame: Any) -> None:
    # Let `finally` blocks run (display state restore, store commits) on `kill`.
    raise KeyboardInterrupt


def pytest_args(opts: RunOptions) -> list[str]:
    args = [
        str(suites_dir()), "--rig", str(opts.rig), "--out", str(opts.out),
        "--junitxml", str(opts.out / "junit.xml"), "--import-mode=importlib",
        "-p", "no:cacheprovider", "-p", "no:terminal", "-W", "ignore::DeprecationWarning",
    ]
    if opts.profile:
        args += ["--profile", opts.profile]
    for room in opts.rooms:
        args += ["--room", room]
    if opts.resume:
        args.append("--resume")
    if opts.fresh:
        args.append("--fresh")
    if opts.attest:
        args += ["--attest", str(opts.attest)]
    if opts.operator:
        args += ["--operator", opts.operator]
    if opts.no_prompt:
        args.append("--no-prompt")
    return args + list(opts.extra_pytest_args)


def run_campaign(opts: RunOptions) -> int:
    """Run the campaign; returns the process exit code (0, 1 or 2)."""
    db = opts.out / STORE_NAME
    if db.exists() and not (opts.resume or opts.fresh):
        print(
            f"error: {opts.out} already holds a campaign ({db}). Continue it with --resume, or "
            f"choose another --out directory.\n错误：该输出目录已有测试批次，请使用 --resume 继续"
            f"或指定新的 --out 目录。",
            file=sys.stderr,
        )
        return EXIT_HARNESS_ERROR
    if not opts.rig.is_file():
        print(f"error: rig file {opts.rig} not found / 找不到场地文件", file=sys.stderr)
        return EXIT_HARNESS_ERROR
    from classcert.rig import RigError, load_rig

    try:
        load_rig(opts.rig)
    except RigError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_HARNESS_ERROR
    opts.out.mkdir(parents=True, exist_ok=True)
    summary_path = opts.out / SUMMARY_NAME
    summary_path.unlink(missing_ok=True)
    print(f"classcert: campaign for {opts.rig} -> {opts.out}"
          f"{' (resuming / 继续)' if opts.resume else ''}", flush=True)
    previous = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    try:
        code = pytest.main(pytest_args(opts))
    finally:
        signal.signal(signal.SIGTERM, previous)
    if code == pytest.ExitCode.INTERRUPTED:
        print("interrupted / 已中断: continue with `classcert run --resume` using the same "
              "--rig and --out", file=sys.stderr)
        return EXIT_HARNESS_ERROR
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED,
                    pytest.ExitCode.NO_TESTS_COLLECTED) or not summary_path.exists():
        print(f"harness error / 测试工具错误 (pytest exit {int(code)}); nothing was certified",
              file=sys.stderr)
        return EXIT_HARNESS_ERROR
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    print_summary(summary, opts.out)
    all_certified = all(
        status == "certified" for room in summary["rooms"] for status in room["kinds"].values()
    )
    return EXIT_CERTIFIED if all_certified else EXIT_NOT_CERTIFIED


def print_summary(summary: dict[str, Any], out: Path) -> None:
    print()
    print(f"Summary / 汇总  (campaign {summary['campaign']})")
    header = f"{'room 教室':<12}{'seats':>6}  {'kind 类型':<26}{'result 结果':<26}{'P/F/E/NT':<12}"
    print(header)
    print("-" * len(header))
    for room in summary["rooms"]:
        c = room["counts"]
        counts = (f"{c.get('PASS', 0)}/{c.get('FAIL', 0)}/{c.get('ERROR', 0)}/"
                  f"{c.get('NOT_TESTED', 0)}")
        kinds = room["kinds"] or {"-": "no claims / 未声明"}
        for i, (kind, status) in enumerate(kinds.items()):
            zh = {"certified": "达标", "not certified": "未达标"}.get(status, "")
            first = i == 0
            print(f"{room['id'] if first else '':<12}{room['seats'] if first else '':>6}  "
                  f"{kind:<26}{(status + ' ' + zh):<26}{counts if first else '':<12}")
    school = summary.get("school") or []
    if school:
        print()
        print("School / 全校  (classrooms counted against classrooms_total / 按教室总数计)")
        for e in school:
            value = "-" if e["value"] is None else f"{e['value']:g} {e['unit']}"
            counted = e.get("counted")
            rooms = (f"  ({counted['certified']} certified of {counted['classrooms_total']})"
                     if counted else "")
            print(f"  {e['id']:<13}{e['title_zh']} / {e['title_en']}: {value} "
                  f"(limit {e['limit']}) -> {e['verdict']}{rooms}")
    print()
    print(f"certificates / 证书: {out / 'rooms'}/<room>/certificate.json|.html")
    print(f"school report / 全校统计: {out / 'school.json'} | {out / 'school.html'}")
    print(f"run store / 数据库:  {out / STORE_NAME}")
    print(f"JUnit XML:          {out / 'junit.xml'}")
