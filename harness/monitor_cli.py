"""``classcert monitor``: poll classroom displays over days, report their daily usage rate.

``add_monitor_parser(subparsers)`` adds the sub-command to the ``classcert`` argument parser.
Without ``--once``/``--duration`` the monitor runs until Ctrl-C (or SIGTERM); ``--report``
alone prints the usage table from the database without polling.
"""

from __future__ import annotations

import argparse
import datetime as dt
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from classcert.monitor_store import MonitorSample, MonitorStore, MonitorStoreError
from classcert.usage import (
    CalendarError,
    SchoolCalendar,
    UsageSummary,
    default_max_gap_s,
    lamp_check,
    summarize,
)

DEFAULT_DB = "out/monitor.sqlite"


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD / 日期格式应为 "
                                         f"YYYY-MM-DD") from None


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a number of seconds > 0 / "
                                         f"必须为大于 0 的秒数")
    return value


def add_monitor_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``monitor`` to the sub-parsers of ``classcert``; returns the new parser."""
    p = subparsers.add_parser(
        "monitor", help="poll displays to measure daily usage / 轮询显示设备以统计日常使用率",
        description="Poll every classroom display of a rig (power state, lamp hours) into a "
                    "database, and report the daily usage rate during school hours. / "
                    "定时轮询各教室显示设备的开关机状态和灯泡时长，统计上课时间内的日常使用率。")
    p.add_argument("--rig", help="rig file (TOML); needed to poll / 场地文件")
    p.add_argument("--db", default=DEFAULT_DB, help=f"monitor database (default {DEFAULT_DB})")
    p.add_argument("--interval", type=_positive, default=300.0,
                   help="seconds between polls (default 300) / 轮询间隔（秒）")
    p.add_argument("--timeout", type=_positive, default=5.0,
                   help="per-display network timeout in seconds (default 5)")
    p.add_argument("--school-hours", default="08:00-17:00",
                   help="local school hours, e.g. 08:00-17:00 or 08:00-12:00,14:00-17:30")
    p.add_argument("--weekdays", default="mon-fri", help="school days, e.g. mon-fri")
    p.add_argument("--timezone", default="Asia/Shanghai",
                   help="school timezone (IANA name or UTC+08:00; default Asia/Shanghai)")
    p.add_argument("--holiday", action="append", type=_date, default=[],
                   help="a holiday YYYY-MM-DD (repeatable) / 节假日")
    p.add_argument("--school-day", action="append", type=_date, default=[],
                   help="a make-up school day on a weekend YYYY-MM-DD (repeatable) / 调休上课日")
    p.add_argument("--room", action="append", default=[], help="only this room (repeatable)")
    p.add_argument("--once", action="store_true", help="poll once and exit / 只轮询一次")
    p.add_argument("--duration", type=_positive, help="stop after S seconds / 运行 S 秒后停止")
    p.add_argument("--report", action="store_true",
                   help="print the per-room, per-day usage table (alone: no polling) / 输出报表")
    p.add_argument("--min-coverage", type=float, default=80.0,
                   help="a day counts when samples cover this %% of school hours (default 80)")
    p.add_argument("--max-gap", type=_positive,
                   help="seconds a sample holds at most (default: 2 polling intervals)")
    p.add_argument("--since", type=_date, help="report from this date / 报表起始日期")
    p.add_argument("--until", type=_date, help="report up to this date / 报表截止日期")
    p.set_defaults(func=run_monitor_command)
    return p


def calendar_from_args(args: argparse.Namespace) -> SchoolCalendar:
    return SchoolCalendar.parse(args.school_hours, args.weekdays, args.timezone,
                                args.holiday, args.school_day)


def run_monitor_command(args: argparse.Namespace) -> int:
    """Entry point of ``classcert monitor``; returns the exit code."""
    try:
        calendar = calendar_from_args(args)
    except CalendarError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    poll = not args.report or args.once or args.duration is not None
    if poll and not args.rig:
        print("error: --rig FILE is needed to poll displays (or use --report alone to print "
              "the table) / 轮询需要 --rig 场地文件", file=sys.stderr)
        return 2
    if not poll and not Path(args.db).is_file():
        print(f"error: {args.db} does not exist; run `classcert monitor --rig FILE --db "
              f"{args.db}` first / 监测数据库不存在，请先运行 classcert monitor", file=sys.stderr)
        return 2
    try:
        with MonitorStore(args.db) as store:
            if poll:
                code = _poll(args, store, calendar)
                if code:
                    return code
            if args.report:
                print(format_report(store, calendar, rooms=args.room,
                                    min_coverage_pct=args.min_coverage, max_gap_s=args.max_gap,
                                    since=args.since, until=args.until))
    except MonitorStoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _poll(args: argparse.Namespace, store: MonitorStore, calendar: SchoolCalendar) -> int:
    from classcert.monitor import Monitor, MonitorConfigError, display_targets
    from classcert.rig import RigError, load_rig
    from classcert.rigs.simulate import SimulatorError, SimulatorPool

    try:
        rig = load_rig(Path(args.rig))
    except RigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    try:
        with SimulatorPool(rig) as pool:
            targets = display_targets(rig, args.room, pool.address)
            with Monitor(targets, store, interval_s=args.interval, timeout_s=args.timeout,
                         on_cycle=lambda s: print(_cycle_line(s, calendar), flush=True)
                         ) as monitor:
                previous = _stop_on_signals(monitor.stop)
                try:
                    print(f"monitoring {len(targets)} displays every {args.interval:g} s into "
                          f"{args.db}; Ctrl-C to stop / 正在监测 {len(targets)} 台显示设备，"
                          f"按 Ctrl-C 停止", flush=True)
                    stats = monitor.run(duration_s=args.duration,
                                        max_cycles=1 if args.once else None,
                                        rig_path=str(rig.path), calendar=calendar.as_dict())
                finally:
                    _restore_signals(previous)
    except (MonitorConfigError, SimulatorError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    how = "stopped / 已停止" if stats.interrupted else "done / 完成"
    print(f"{how}: {stats.cycles} cycles, {stats.samples} samples ({stats.unknown} unknown) "
          f"written to {args.db} / 已写入 {stats.samples} 条采样", flush=True)
    return 0


def _stop_on_signals(stop: Any) -> dict[int, Any]:
    """SIGTERM, and a first Ctrl-C, finish the cycle in progress and stop; returns the old
    handlers. A second Ctrl-C interrupts at once. An ignored SIGINT (background job) stays so."""
    previous: dict[int, Any] = {}

    def on_int(signum: int, frame: Any) -> None:
        print("stopping after this poll cycle (Ctrl-C again to abort) / 本轮轮询结束后停止",
              file=sys.stderr, flush=True)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        stop()

    try:
        previous[signal.SIGTERM] = signal.signal(signal.SIGTERM, lambda *_: stop())
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            previous[signal.SIGINT] = signal.signal(signal.SIGINT, on_int)
    except (ValueError, OSError, AttributeError):  # not the main thread, or no such signal
        pass
    return previous


def _restore_signals(previous: dict[int, Any]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def _cycle_line(samples: list[MonitorSample], calendar: SchoolCalendar) -> str:
    when = samples[0].at.astimezone(calendar.tz).strftime("%Y-%m-%d %H:%M:%S") if samples else ""
    counts = {s: sum(x.state == s for x in samples) for s in ("on", "off", "unknown")}
    line = (f"{when} on/开 {counts['on']}  off/关 {counts['off']}  "
            f"unknown/未知 {counts['unknown']}")
    for s in samples:
        if s.state == "unknown":
            line += f"\n  {s.room_id}: {s.error}"
    return line


# ---------------------------------------------------------------- report ------------------
def format_report(store: MonitorStore, calendar: SchoolCalendar, *, rooms: Sequence[str] = (),
                  min_coverage_pct: float = 80.0, max_gap_s: float | None = None,
                  since: dt.date | None = None, until: dt.date | None = None,
                  now: dt.datetime | None = None) -> str:
    """Per-room, per-day usage table (English and zh-CN) from the database."""
    now = now or dt.datetime.now(dt.UTC)
    room_ids = [r for r in store.rooms() if not rooms or r in rooms]
    if not room_ids:
        return (f"{store.path}: no samples yet; run `classcert monitor --rig FILE` first / "
                f"尚无监测数据，请先运行 classcert monitor")
    head = (f"School calendar / 上课安排: {calendar.weekdays_text} ({calendar.weekdays_zh}) "
            f"{calendar.hours_text}, {calendar.as_dict()['timezone']}; days count when samples "
            f"cover >= {min_coverage_pct:g}% of school hours / 采样覆盖率不低于 "
            f"{min_coverage_pct:g}% 的上课日计入")
    if calendar.holidays:
        days = ", ".join(sorted(d.isoformat() for d in calendar.holidays))
        head += f"\nHolidays / 节假日: {days}"
    blocks = [head]
    for room_id in room_ids:
        samples = store.samples(room_id)
        gap = max_gap_s or default_max_gap_s(store.max_interval_s(room_id))
        summary = summarize(samples, calendar, max_gap_s=gap, min_coverage_pct=min_coverage_pct,
                            start=since, end=until, now=now)
        blocks.append(_room_block(room_id, samples, summary, gap))
    return "\n\n".join(blocks)


def _room_block(room_id: str, samples: list[MonitorSample], summary: UsageSummary | None,
                gap: float) -> str:
    devices = sorted({s.device for s in samples})
    lines = [f"Room / 教室 {room_id} — {', '.join(devices)} ({len(samples)} samples / 条采样, "
             f"a sample holds <= {gap:g} s / 每条采样最多代表 {gap:g} 秒)"]
    if summary is None or not summary.days:
        lines.append("  no school day in the period / 统计期内没有上课日")
        return "\n".join(lines)
    reasons = {e.day: e for e in summary.excluded}
    lines.append(f"  {'date 日期':<12} {'usage 使用率':>12} {'coverage 覆盖率':>15} "
                 f"{'on 开机 h':>10}  note 备注")
    for d in summary.days:
        usage = "-" if d.usage_pct is None else f"{d.usage_pct:.1f}%"
        note = f"excluded: {reasons[d.day].reason_en} / {reasons[d.day].reason_zh}" if (
            d.day in reasons) else ""
        lines.append(f"  {d.day.isoformat():<12} {usage:>12} {d.coverage_pct:>14.1f}% "
                     f"{d.on_s / 3600:>10.2f}  {note}".rstrip())
    mean = summary.mean_pct
    n = len(summary.included)
    period = f"{summary.start.isoformat()} .. {summary.end.isoformat()}"
    if mean is None:
        lines.append(f"  mean daily usage: no school day with enough samples in {period} / "
                     f"统计期内没有采样充足的上课日")
    else:
        lines.append(f"  mean daily usage / 日均使用率: {mean:.1f}% over {n} school days "
                     f"({period}) / 共 {n} 个上课日")
    period_samples = [s for s in samples
                      if summary.start <= summary.calendar.local_date(s.at) <= summary.end]
    lamp = lamp_check(period_samples, gap)
    if lamp is not None:
        delta = "unknown (lamp replaced or counter reset) / 未知（更换灯泡或计数清零）" if (
            lamp.delta_h is None) else f"+{lamp.delta_h} h"
        lines.append(f"  lamp hours / 灯泡时长: {delta} from {lamp.first_at:%Y-%m-%d} to "
                     f"{lamp.last_at:%Y-%m-%d}; the monitor saw {lamp.observed_on_h:.1f} h on / "
                     f"监测到开机 {lamp.observed_on_h:.1f} 小时")
    unknown = [s for s in samples if s.state == "unknown"]
    if unknown:
        lines.append(f"  unknown state / 状态未知: {len(unknown)} samples; last: "
                     f"{unknown[-1].at:%Y-%m-%d %H:%M}Z {unknown[-1].error}")
    return "\n".join(lines)
