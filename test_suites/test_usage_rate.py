"""Daily usage rate of the classroom display (日常使用率), from `classcert monitor` samples.

The database comes from the display's rig option ``monitor_db`` (relative to the rig file) or
the environment variable CLASSCERT_MONITOR_DB. Optional display options: ``monitor_school_hours``
("08:00-17:00"), ``monitor_weekdays`` ("mon-fri"), ``monitor_timezone`` ("Asia/Shanghai"),
``monitor_holidays`` / ``monitor_school_days`` (dates), ``monitor_min_days`` (5),
``monitor_min_coverage_pct`` (80), ``monitor_max_gap_s`` (two polling intervals),
``monitor_since`` / ``monitor_until`` (dates). Calendar settings not given here are those the
latest monitor run was started with.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import pytest

from classcert.fixtures.devices import NotTested, Unmeasurable
from classcert.model import Device
from classcert.monitor_store import MonitorStore, MonitorStoreError
from classcert.usage import (
    CalendarError,
    SchoolCalendar,
    UsageSummary,
    default_max_gap_s,
    lamp_check,
    summarize,
)

KEY = "usage.daily"
ENV_DB = "CLASSCERT_MONITOR_DB"
MIN_DAYS = 5
MIN_COVERAGE_PCT = 80.0
_CALENDAR_OPTIONS = {"monitor_school_hours": "hours", "monitor_weekdays": "weekdays",
                     "monitor_timezone": "timezone", "monitor_holidays": "holidays",
                     "monitor_school_days": "extra_days"}
_LISTED_DAYS = 10


def monitor_db_path(rig_path: Path, device: Device) -> Path | None:
    """The monitor database for this display, or None when none is configured."""
    option = device.options.get("monitor_db")
    if option:
        path = Path(str(option)).expanduser()
        return path if path.is_absolute() else rig_path.parent / path
    env = os.environ.get(ENV_DB)
    return Path(env).expanduser() if env else None


def _bad_option(name: str, value: Any, why: str) -> Unmeasurable:
    return Unmeasurable(f"display option {name} = {value!r} is invalid: {why}; fix it in the rig",
                        f"显示设备选项 {name} 无效：{why}；请修改场地文件")


def _number(options: dict[str, Any], name: str, default: float) -> float:
    value = options.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise _bad_option(name, value, "must be a number >= 0")
    return float(value)


def _date(options: dict[str, Any], name: str) -> dt.date | None:
    value = options.get(name)
    if value is None or (isinstance(value, dt.date) and not isinstance(value, dt.datetime)):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise _bad_option(name, value, "must be a date YYYY-MM-DD") from None


def room_calendar(options: dict[str, Any], recorded: dict[str, Any] | None) -> SchoolCalendar:
    settings = dict(recorded or {})
    for option, key in _CALENDAR_OPTIONS.items():
        if option in options:
            settings[key] = options[option]
    try:
        return SchoolCalendar.from_dict(settings)
    except CalendarError as exc:
        raise Unmeasurable(f"school calendar for usage: {exc}",
                           f"上课安排设置有误：{exc}") from None


def _no_data(en: str, zh: str, min_days: int) -> NotTested:
    return NotTested(
        f"no monitoring data: {en}; run `classcert monitor --rig RIG --db FILE` for at least "
        f"{min_days} school days and set the display option monitor_db or {ENV_DB}",
        f"无监测数据：{zh}；请运行 classcert monitor 至少 {min_days} 个上课日，"
        f"并设置显示设备选项 monitor_db 或环境变量 {ENV_DB}")


def _details(summary: UsageSummary, mean: float) -> tuple[str, str]:
    cal = summary.calendar
    period = f"{summary.start.isoformat()}..{summary.end.isoformat()}"
    shown = summary.included[:_LISTED_DAYS]
    days = ", ".join(f"{d.day.isoformat()} {d.usage_pct:.1f}%" for d in shown)
    more = len(summary.included) - len(shown)
    if more > 0:
        days += f" (+{more} more in the evidence)"
    tz = cal.as_dict()["timezone"]
    en = (f"mean {mean:.1f}% over {len(summary.included)} school days in {period} "
          f"({cal.weekdays_text} {cal.hours_text} {tz}, days with coverage >= "
          f"{summary.min_coverage_pct:g}%): {days}")
    zh = (f"监测期 {period} 内 {len(summary.included)} 个上课日"
          f"（{cal.weekdays_zh} {cal.hours_text}，{tz}，采样覆盖率不低于 "
          f"{summary.min_coverage_pct:g}%）平均使用率 {mean:.1f}%")
    if summary.excluded:
        en += "; excluded: " + ", ".join(f"{e.day.isoformat()} ({e.reason_en})"
                                         for e in summary.excluded[:_LISTED_DAYS])
        zh += f"；未计入 {len(summary.excluded)} 天（原因见证据文件）"
    return en, zh


@pytest.mark.requirement(KEY)
def test_daily_usage_rate(classcert_campaign, room, display_device, measure):
    opts = display_device.options
    min_days = int(_number(opts, "monitor_min_days", MIN_DAYS)) or 1
    min_coverage = _number(opts, "monitor_min_coverage_pct", MIN_COVERAGE_PCT)
    since, until = _date(opts, "monitor_since"), _date(opts, "monitor_until")
    path = monitor_db_path(classcert_campaign.rig.path, display_device)
    if path is None:
        raise _no_data("no monitor database is configured", "未配置监测数据库", min_days)
    if not path.is_file():
        raise _no_data(f"{path} does not exist", f"{path} 不存在", min_days)
    try:
        with MonitorStore(path) as store:
            samples = store.samples(room.id)
            calendar = room_calendar(opts, store.last_calendar())
            gap = _number(opts, "monitor_max_gap_s", 0) or default_max_gap_s(
                store.max_interval_s(room.id))
    except MonitorStoreError as exc:
        raise Unmeasurable(str(exc), "监测数据库无法使用") from None
    if not samples:
        raise _no_data(f"{path} holds no samples for room {room.id}",
                       f"{path} 中没有教室 {room.id} 的采样", min_days)
    summary = summarize(samples, calendar, max_gap_s=gap, min_coverage_pct=min_coverage,
                        start=since, end=until, now=dt.datetime.now(dt.UTC))
    included = len(summary.included) if summary else 0
    mean = summary.mean_pct if summary else None
    if summary is None or mean is None or included < min_days:
        period = f"{summary.start}..{summary.end}" if summary else "the period"
        raise NotTested(
            f"not enough monitoring data yet: {included} school day(s) in {period} with samples "
            f"covering >= {min_coverage:g}% of school hours, {min_days} needed; keep "
            f"`classcert monitor` running",
            f"监测数据不足：{period} 内仅 {included} 个上课日采样充足，至少需要 {min_days} 个；"
            f"请继续运行 classcert monitor")
    lamp = lamp_check([s for s in samples
                       if summary.start <= calendar.local_date(s.at) <= summary.end], gap)
    evidence = measure.write_evidence("usage-daily.json", {
        "room": room.id, "database": str(path), "devices": sorted({s.device for s in samples}),
        "samples": len(samples), "unknown_samples": sum(s.state == "unknown" for s in samples),
        "min_days": min_days, "lamp": lamp.as_dict() if lamp else None, **summary.as_dict(),
    })
    detail_en, detail_zh = _details(summary, mean)
    measure(KEY, round(mean, 1), unit="%", evidence=[evidence],
            detail_en=detail_en, detail_zh=detail_zh)
