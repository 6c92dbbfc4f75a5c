"""Daily usage rate of a classroom display, computed from power-state samples.

Pure computation, no I/O. A *sample* says the display was ``on``, ``off`` or ``unknown``
(could not be read) at an instant. A valid sample (on/off) stands for its state from its own
instant until the next sample, but for at most ``max_gap_s`` seconds: time not covered by a
valid sample is UNKNOWN and counts neither as on nor as off.

For each school day: ``usage_pct`` = on time / observed time within school hours, and
``coverage_pct`` = observed time / length of school hours. The period summary is the mean
usage over the school days whose coverage reaches a threshold; other days are listed with
the reason they were left out. ``min_pct``/``max_pct`` bound the true value by counting all
unknown time as off or as on.
"""

from __future__ import annotations

import bisect
import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

STATES = ("on", "off", "unknown")
GAP_FACTOR = 2.0  # by default a sample holds for two polling intervals at most
WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEKDAY_ZH = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")


class CalendarError(ValueError):
    """A school-calendar setting is malformed; the message says how to write it."""


class TimedState(Protocol):
    """Anything with an aware ``at`` instant and a ``state`` in STATES."""

    @property
    def at(self) -> dt.datetime: ...

    @property
    def state(self) -> str: ...


@dataclass(frozen=True)
class Sample:
    at: dt.datetime  # timezone-aware
    state: str  # on | off | unknown
    lamp_hours: tuple[int, ...] | None = None


# ---------------------------------------------------------------- calendar ----------------
def parse_timezone(text: str) -> dt.tzinfo:
    """An IANA name (``Asia/Shanghai``), ``UTC`` or a fixed offset (``UTC+08:00``, ``+8``)."""
    name = text.strip()
    m = re.fullmatch(r"(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?", name, re.IGNORECASE)
    if m:
        hours, minutes = int(m.group(2)), int(m.group(3) or 0)
        if hours > 14 or minutes > 59:
            raise CalendarError(f"timezone offset {text!r} is out of range / 时区偏移超出范围")
        delta = dt.timedelta(hours=hours, minutes=minutes)
        return dt.timezone(-delta if m.group(1) == "-" else delta)
    if name.upper() in ("UTC", "Z", "GMT"):
        return dt.UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CalendarError(
            f"unknown timezone {text!r}: write an IANA name such as Asia/Shanghai, or a fixed "
            f"offset such as UTC+08:00 (on Windows install the 'tzdata' package) / "
            f"未知时区 {text!r}，请写作 Asia/Shanghai 或 UTC+08:00"
        ) from None


def timezone_name(tz: dt.tzinfo) -> str:
    if isinstance(tz, ZoneInfo):
        return tz.key
    offset = tz.utcoffset(None) or dt.timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _parse_clock(text: str, whole: str) -> dt.time:
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", text.strip())
    if not m or int(m.group(1)) > 24 or int(m.group(2)) > 59:
        raise CalendarError(f"school hours {whole!r}: {text!r} is not a time HH:MM "
                            f"(write e.g. 08:00-17:00) / 上课时间格式应为 08:00-17:00")
    if int(m.group(1)) == 24:
        raise CalendarError(f"school hours {whole!r}: use 23:59 instead of 24:00 / "
                            f"请用 23:59 代替 24:00")
    return dt.time(int(m.group(1)), int(m.group(2)))


def parse_hours(text: str) -> tuple[tuple[dt.time, dt.time], ...]:
    """``08:00-17:00`` or several windows ``08:00-12:00,14:00-17:30`` (same day, in order)."""
    windows: list[tuple[dt.time, dt.time]] = []
    for part in text.split(","):
        start_text, sep, end_text = part.partition("-")
        if not sep:
            raise CalendarError(f"school hours {text!r}: write START-END, e.g. 08:00-17:00 / "
                                f"上课时间应写作 开始-结束，例如 08:00-17:00")
        start, end = _parse_clock(start_text, text), _parse_clock(end_text, text)
        if end <= start or (windows and start < windows[-1][1]):
            raise CalendarError(f"school hours {text!r}: each window must end after it starts, "
                                f"in order, without overlap / 上课时段须先后有序、不重叠")
        windows.append((start, end))
    return tuple(windows)


def parse_weekdays(text: str) -> frozenset[int]:
    """``mon-fri``, ``mon,wed,fri``, ``mon-sat`` -> weekday numbers (Monday = 0)."""
    days: set[int] = set()
    for part in text.lower().replace(" ", "").split(","):
        ends = part.split("-")
        if len(ends) > 2 or not all(e[:3] in WEEKDAY_NAMES and e for e in ends):
            raise CalendarError(f"weekdays {text!r}: write e.g. mon-fri or mon,tue,thu / "
                                f"上课日应写作 mon-fri 或 mon,tue,thu")
        first, last = WEEKDAY_NAMES.index(ends[0][:3]), WEEKDAY_NAMES.index(ends[-1][:3])
        if last < first:
            raise CalendarError(f"weekdays {text!r}: a range runs forward, e.g. mon-fri / "
                                f"星期范围须从前往后，例如 mon-fri")
        days.update(range(first, last + 1))
    return frozenset(days)


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise CalendarError(f"date {value!r} is not YYYY-MM-DD / 日期格式应为 YYYY-MM-DD") from None


@dataclass(frozen=True)
class SchoolCalendar:
    """When a classroom is expected to be in use: school days and hours, local time."""

    weekdays: frozenset[int] = frozenset(range(5))
    hours: tuple[tuple[dt.time, dt.time], ...] = ((dt.time(8), dt.time(17)),)
    tz: dt.tzinfo = field(default_factory=lambda: parse_timezone("Asia/Shanghai"))
    holidays: frozenset[dt.date] = frozenset()
    extra_days: frozenset[dt.date] = frozenset()  # make-up school days on a weekend (调休)

    @classmethod
    def parse(cls, hours: str = "08:00-17:00", weekdays: str = "mon-fri",
              timezone: str = "Asia/Shanghai", holidays: Iterable[Any] = (),
              extra_days: Iterable[Any] = ()) -> SchoolCalendar:
        return cls(parse_weekdays(weekdays), parse_hours(hours), parse_timezone(timezone),
                   frozenset(_as_date(d) for d in holidays),
                   frozenset(_as_date(d) for d in extra_days))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SchoolCalendar:
        return cls.parse(str(data.get("hours", "08:00-17:00")),
                         str(data.get("weekdays", "mon-fri")),
                         str(data.get("timezone", "Asia/Shanghai")),
                         data.get("holidays", ()), data.get("extra_days", ()))

    def as_dict(self) -> dict[str, Any]:
        return {
            "hours": self.hours_text, "weekdays": self.weekdays_text,
            "timezone": timezone_name(self.tz),
            "holidays": sorted(d.isoformat() for d in self.holidays),
            "extra_days": sorted(d.isoformat() for d in self.extra_days),
        }

    @property
    def hours_text(self) -> str:
        return ",".join(f"{a:%H:%M}-{b:%H:%M}" for a, b in self.hours)

    @property
    def weekdays_text(self) -> str:
        return ",".join(WEEKDAY_NAMES[d] for d in sorted(self.weekdays))

    @property
    def weekdays_zh(self) -> str:
        return "、".join(_WEEKDAY_ZH[d] for d in sorted(self.weekdays))

    def is_school_day(self, day: dt.date) -> bool:
        if day in self.holidays:
            return False
        return day.weekday() in self.weekdays or day in self.extra_days

    def windows(self, day: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
        """School-hour windows of ``day`` as UTC instants (empty on other days)."""
        if not self.is_school_day(day):
            return []
        return [(_utc(day, a, self.tz), _utc(day, b, self.tz)) for a, b in self.hours]

    def local_date(self, instant: dt.datetime) -> dt.date:
        return instant.astimezone(self.tz).date()


def _utc(day: dt.date, clock: dt.time, tz: dt.tzinfo) -> dt.datetime:
    return dt.datetime.combine(day, clock, tzinfo=tz).astimezone(dt.UTC)


# ---------------------------------------------------------------- spans -------------------
def default_max_gap_s(interval_s: float | None, fallback_interval_s: float = 300.0) -> float:
    """How long a sample holds when not set explicitly: GAP_FACTOR polling intervals."""
    return GAP_FACTOR * (interval_s if interval_s and interval_s > 0 else fallback_interval_s)


@dataclass(frozen=True)
class Spans:
    """Sorted, non-overlapping [start, end) intervals (epoch seconds) with a known state."""

    starts: tuple[float, ...]
    ends: tuple[float, ...]
    on: tuple[bool, ...]

    def seconds(self, lo: float, hi: float) -> tuple[float, float]:
        """(on seconds, observed seconds) inside [lo, hi)."""
        on_s = seen_s = 0.0
        i = max(bisect.bisect_right(self.starts, lo) - 1, 0)
        while i < len(self.starts) and self.starts[i] < hi:
            overlap = min(self.ends[i], hi) - max(self.starts[i], lo)
            if overlap > 0:
                seen_s += overlap
                on_s += overlap if self.on[i] else 0.0
            i += 1
        return on_s, seen_s


def build_spans(samples: Iterable[TimedState], max_gap_s: float) -> Spans:
    """Each valid sample holds until the next sample, at most ``max_gap_s`` seconds."""
    if max_gap_s <= 0:
        raise ValueError("max_gap_s must be > 0")
    ordered = sorted(((s.at.timestamp(), s.state) for s in samples), key=lambda x: x[0])
    starts: list[float] = []
    ends: list[float] = []
    on: list[bool] = []
    for i, (t, state) in enumerate(ordered):
        if state not in STATES:
            raise ValueError(f"sample state must be one of {STATES}, got {state!r}")
        if state == "unknown":
            continue
        end = t + max_gap_s
        if i + 1 < len(ordered):
            end = min(end, ordered[i + 1][0])
        if end > t:
            starts.append(t)
            ends.append(end)
            on.append(state == "on")
    return Spans(tuple(starts), tuple(ends), tuple(on))


# ---------------------------------------------------------------- days and period ----------
@dataclass(frozen=True)
class DayUsage:
    day: dt.date
    school_s: float
    on_s: float
    observed_s: float

    @property
    def coverage_pct(self) -> float:
        return 100.0 * self.observed_s / self.school_s if self.school_s else 0.0

    @property
    def usage_pct(self) -> float | None:
        """On time / observed time; None when nothing was observed."""
        return 100.0 * self.on_s / self.observed_s if self.observed_s > 0 else None

    @property
    def min_pct(self) -> float:
        return 100.0 * self.on_s / self.school_s if self.school_s else 0.0

    @property
    def max_pct(self) -> float:
        unknown = self.school_s - self.observed_s
        return 100.0 * (self.on_s + unknown) / self.school_s if self.school_s else 0.0

    def as_dict(self) -> dict[str, Any]:
        usage = self.usage_pct
        return {
            "date": self.day.isoformat(), "school_hours_h": round(self.school_s / 3600, 3),
            "on_h": round(self.on_s / 3600, 3), "observed_h": round(self.observed_s / 3600, 3),
            "usage_pct": None if usage is None else round(usage, 2),
            "coverage_pct": round(self.coverage_pct, 2),
            "bounds_pct": [round(self.min_pct, 2), round(self.max_pct, 2)],
        }


def day_usage(spans: Spans, calendar: SchoolCalendar, day: dt.date) -> DayUsage:
    school = on = seen = 0.0
    for lo, hi in calendar.windows(day):
        a, b = lo.timestamp(), hi.timestamp()
        school += b - a
        on_s, seen_s = spans.seconds(a, b)
        on, seen = on + on_s, seen + seen_s
    return DayUsage(day, school, min(on, seen), min(seen, school))


@dataclass(frozen=True)
class Excluded:
    day: dt.date
    reason_en: str
    reason_zh: str


@dataclass(frozen=True)
class UsageSummary:
    start: dt.date
    end: dt.date
    days: tuple[DayUsage, ...]  # every school day of the period, in order
    included: tuple[DayUsage, ...]
    excluded: tuple[Excluded, ...]
    min_coverage_pct: float
    max_gap_s: float
    calendar: SchoolCalendar

    @property
    def mean_pct(self) -> float | None:
        values = [d.usage_pct for d in self.included if d.usage_pct is not None]
        return sum(values) / len(values) if values else None

    def as_dict(self) -> dict[str, Any]:
        mean = self.mean_pct
        return {
            "period": [self.start.isoformat(), self.end.isoformat()],
            "calendar": self.calendar.as_dict(), "max_gap_s": self.max_gap_s,
            "min_coverage_pct": self.min_coverage_pct,
            "mean_usage_pct": None if mean is None else round(mean, 2),
            "included_days": [d.day.isoformat() for d in self.included],
            "excluded_days": [{"date": e.day.isoformat(), "reason_en": e.reason_en,
                               "reason_zh": e.reason_zh} for e in self.excluded],
            "days": [d.as_dict() for d in self.days],
        }


def summarize(samples: Sequence[TimedState], calendar: SchoolCalendar, *, max_gap_s: float,
              min_coverage_pct: float = 80.0, start: dt.date | None = None,
              end: dt.date | None = None, now: dt.datetime | None = None) -> UsageSummary | None:
    """Per-day usage over [start, end] (local dates; default: the days the samples span).

    None when there are no samples and no explicit period. ``now`` marks today's school
    hours that have not ended yet: such a day is left out as "not over yet".
    """
    if not samples and (start is None or end is None):
        return None
    local = sorted(calendar.local_date(s.at) for s in samples)
    start = start or local[0]
    end = end or local[-1]
    spans = build_spans(samples, max_gap_s)
    days: list[DayUsage] = []
    included: list[DayUsage] = []
    excluded: list[Excluded] = []
    day = start
    while day <= end:
        if calendar.is_school_day(day):
            usage = day_usage(spans, calendar, day)
            days.append(usage)
            last_end = calendar.windows(day)[-1][1]
            if now is not None and now < last_end:
                excluded.append(Excluded(day, "school hours not over yet", "当日上课时间尚未结束"))
            elif usage.observed_s <= 0:
                excluded.append(Excluded(day, "no valid samples during school hours",
                                         "上课时间内无有效采样"))
            elif usage.coverage_pct + 1e-9 < min_coverage_pct:
                excluded.append(Excluded(
                    day, f"coverage {usage.coverage_pct:.1f}% < {min_coverage_pct:g}%",
                    f"采样覆盖率 {usage.coverage_pct:.1f}% 低于 {min_coverage_pct:g}%"))
            else:
                included.append(usage)
        day += dt.timedelta(days=1)
    return UsageSummary(start, end, tuple(days), tuple(included), tuple(excluded),
                        min_coverage_pct, max_gap_s, calendar)


# ---------------------------------------------------------------- lamp cross-check ---------
@dataclass(frozen=True)
class LampCheck:
    """Lamp-hour counters at the first and last reading, and the on time seen between."""

    first_at: dt.datetime
    last_at: dt.datetime
    first_hours: tuple[int, ...]
    last_hours: tuple[int, ...]
    observed_on_h: float  # on time (any hour of any day) between the two readings

    @property
    def delta_h(self) -> int | None:
        """Hours the most-used lamp gained; None when the lamp set changed or a counter reset."""
        if len(self.first_hours) != len(self.last_hours):
            return None
        deltas = [b - a for a, b in zip(self.first_hours, self.last_hours, strict=True)]
        return None if any(d < 0 for d in deltas) else max(deltas, default=0)

    def as_dict(self) -> dict[str, Any]:
        return {"first_at": self.first_at.isoformat(), "last_at": self.last_at.isoformat(),
                "first_hours": list(self.first_hours), "last_hours": list(self.last_hours),
                "delta_h": self.delta_h, "observed_on_h": round(self.observed_on_h, 2)}


def lamp_check(samples: Sequence[Any], max_gap_s: float) -> LampCheck | None:
    """Compare the lamp counters (``sample.lamp_hours``) with the on time the samples show."""
    readings = sorted((s for s in samples if getattr(s, "lamp_hours", None)),
                      key=lambda s: s.at)
    if len(readings) < 2:
        return None
    first, last = readings[0], readings[-1]
    on_s, _ = build_spans(samples, max_gap_s).seconds(first.at.timestamp(), last.at.timestamp())
    return LampCheck(first.at, last.at, tuple(first.lamp_hours), tuple(last.lamp_hours),
                     on_s / 3600)
