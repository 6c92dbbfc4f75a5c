"""Usage-rate computation (classcert.usage): calendar parsing and per-day/period properties."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classcert.usage import (
    CalendarError,
    Sample,
    SchoolCalendar,
    build_spans,
    day_usage,
    lamp_check,
    parse_hours,
    parse_timezone,
    parse_weekdays,
    summarize,
)

SHANGHAI = SchoolCalendar.parse("08:00-17:00", "mon-fri", "Asia/Shanghai")
MONDAY = dt.date(2024, 9, 2)  # a Monday
GAP = 600.0
SCHOOL_S = 9 * 3600.0


def at(day: dt.date, hh: int, mm: int = 0, cal: SchoolCalendar = SHANGHAI) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hh, mm), tzinfo=cal.tz).astimezone(dt.UTC)


def regular(day: dt.date, state_at, step_s: float = 300.0, hours=(7, 18)) -> list[Sample]:
    """Samples every ``step_s`` between two local hours; ``state_at(local_time)`` -> state."""
    out, t = [], at(day, hours[0])
    end = at(day, hours[1])
    while t < end:
        out.append(Sample(t, state_at(t.astimezone(SHANGHAI.tz).time())))
        t += dt.timedelta(seconds=step_s)
    return out


# Samples within three days from Monday 06:00 Shanghai time, in any order, any state.
OFFSETS = st.floats(min_value=0, max_value=3 * 86400, allow_nan=False)
STATE = st.sampled_from(["on", "off", "unknown"])
SAMPLES = st.lists(st.tuples(OFFSETS, STATE), max_size=60).map(
    lambda xs: [Sample(at(MONDAY, 6) + dt.timedelta(seconds=o), s) for o, s in xs])
DAYS = [MONDAY + dt.timedelta(days=i) for i in range(4)]


def per_day(samples, gap=GAP, cal=SHANGHAI):
    spans = build_spans(samples, gap)
    return [day_usage(spans, cal, d) for d in DAYS]


# ---------------------------------------------------------------- parsers -------------------
def test_parsers_accept_the_documented_forms():
    assert parse_hours("08:00-17:00") == ((dt.time(8), dt.time(17)),)
    assert parse_hours("8:00-12:00, 14:00-17:30")[1] == (dt.time(14), dt.time(17, 30))
    assert parse_weekdays("mon-fri") == frozenset(range(5))
    assert parse_weekdays("Mon,wed,SAT") == frozenset({0, 2, 5})
    assert parse_weekdays("monday-tuesday") == frozenset({0, 1})
    assert parse_timezone("UTC+08:00").utcoffset(None) == dt.timedelta(hours=8)
    assert parse_timezone("-5").utcoffset(None) == dt.timedelta(hours=-5)
    assert parse_timezone("Asia/Shanghai").utcoffset(dt.datetime(2024, 7, 1)) == dt.timedelta(
        hours=8)


@pytest.mark.parametrize("bad", ["", "8-17", "17:00-08:00", "08:00-12:00,11:00-13:00",
                                 "25:00-26:00", "08:00-24:00", "08:60-09:00", "08:00"])
def test_bad_school_hours_say_how_to_write_them(bad):
    with pytest.raises(CalendarError, match="08:00-17:00|23:59|order"):
        parse_hours(bad)


@pytest.mark.parametrize("bad", ["", "fri-mon", "mo-fr", "mon-tue-wed", "weekday"])
def test_bad_weekdays_are_rejected(bad):
    with pytest.raises(CalendarError, match="mon-fri"):
        parse_weekdays(bad)


def test_unknown_timezone_names_the_fix():
    with pytest.raises(CalendarError, match="Asia/Shanghai"):
        parse_timezone("Mars/Olympus")
    with pytest.raises(CalendarError):
        parse_timezone("UTC+15")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_parsers_raise_only_calendar_errors(text):
    for parse in (parse_hours, parse_weekdays, parse_timezone):
        try:
            parse(text)
        except CalendarError:
            pass


@settings(max_examples=100, deadline=None)
@given(
    st.frozensets(st.integers(0, 6), min_size=1),
    st.lists(st.integers(0, 24 * 60 - 1), min_size=2, max_size=6, unique=True),
    st.sampled_from(["Asia/Shanghai", "UTC", "UTC+08:00", "Europe/Berlin", "UTC-03:30"]),
    st.frozensets(st.dates(dt.date(2020, 1, 1), dt.date(2030, 1, 1)), max_size=4),
)
def test_calendar_round_trips_through_its_dict(weekdays, minutes, tz, holidays):
    marks = sorted(minutes)[: len(minutes) // 2 * 2]
    hours = tuple((dt.time(a // 60, a % 60), dt.time(b // 60, b % 60))
                  for a, b in zip(marks[::2], marks[1::2], strict=True))
    cal = SchoolCalendar(weekdays, hours, parse_timezone(tz), holidays)
    again = SchoolCalendar.from_dict(cal.as_dict())
    assert again.as_dict() == cal.as_dict()
    assert again.weekdays == weekdays and again.hours == hours and again.holidays == holidays


# ---------------------------------------------------------------- properties ----------------
@settings(max_examples=300, deadline=None)
@given(SAMPLES, st.floats(min_value=1, max_value=20000))
def test_usage_and_coverage_stay_between_0_and_100(samples, gap):
    for d in per_day(samples, gap):
        assert 0.0 <= d.coverage_pct <= 100.0 + 1e-9
        assert 0.0 <= d.min_pct <= d.max_pct <= 100.0 + 1e-9
        if d.usage_pct is None:
            assert d.observed_s == 0
        else:
            assert 0.0 <= d.usage_pct <= 100.0 + 1e-9
            # the observed rate lies between "unknown = off" and "unknown = on"
            assert d.min_pct - 1e-6 <= d.usage_pct <= d.max_pct + 1e-6


@settings(max_examples=300, deadline=None)
@given(SAMPLES, st.lists(st.tuples(OFFSETS, st.sampled_from(["on", "off"])), max_size=20),
       st.floats(min_value=1, max_value=20000), st.floats(min_value=0, max_value=20000))
def test_coverage_is_monotonic(samples, extra, gap, more_gap):
    base = per_day(samples, gap)
    added = samples + [Sample(at(MONDAY, 6) + dt.timedelta(seconds=o), s) for o, s in extra]
    # more valid samples never lose coverage ...
    for before, after in zip(base, per_day(added, gap), strict=True):
        assert after.observed_s >= before.observed_s - 1e-6
    # ... nor does letting each sample hold longer
    for before, after in zip(base, per_day(samples, gap + more_gap), strict=True):
        assert after.observed_s >= before.observed_s - 1e-6


@settings(max_examples=300, deadline=None)
@given(SAMPLES, st.data())
def test_failed_reads_are_never_counted_as_on(samples, data):
    """A display that could not be read (unknown) never adds on time, nor observed time."""
    keep = data.draw(st.lists(st.booleans(), min_size=len(samples), max_size=len(samples)))
    as_error = [s if k else Sample(s.at, "unknown") for s, k in zip(samples, keep, strict=True)]
    for before, after in zip(per_day(samples), per_day(as_error), strict=True):
        assert after.on_s <= before.on_s + 1e-6
        assert after.observed_s <= before.observed_s + 1e-6
    # and on time never exceeds what the on samples can hold
    on_budget = sum(GAP for s in samples if s.state == "on")
    assert sum(d.on_s for d in per_day(samples)) <= on_budget + 1e-6


@settings(max_examples=300, deadline=None)
@given(SAMPLES, OFFSETS, st.floats(min_value=GAP, max_value=86400))
def test_gaps_are_never_counted_as_on_or_off(samples, gap_at, gap_len):
    """No sample in [g0, g1): beyond max_gap after g0 the time is unknown, neither on nor off."""
    g0 = at(MONDAY, 6) + dt.timedelta(seconds=gap_at)
    g1 = g0 + dt.timedelta(seconds=gap_len)
    holed = [s for s in samples if not g0 <= s.at < g1]
    spans = build_spans(holed, GAP)
    on_s, seen_s = spans.seconds(g0.timestamp() + GAP, g1.timestamp())
    assert on_s == 0 and seen_s == 0
    for d in per_day(holed):  # per day, the hole is missing from the observed time
        lo, hi = SHANGHAI.windows(d.day)[0] if d.school_s else (g0, g0)
        blind = max(0.0, (min(hi, g1) - max(lo, g0 + dt.timedelta(seconds=GAP))).total_seconds())
        assert d.observed_s <= d.school_s - blind + 1e-6


@settings(max_examples=50, deadline=None)
@given(st.sampled_from([60.0, 300.0, 599.0]), st.sampled_from(["on", "off"]))
def test_always_on_is_100_and_always_off_is_0(step, state):
    samples = [s for d in DAYS[:3] for s in regular(d, lambda _t: state, step)]
    summary = summarize(samples, SHANGHAI, max_gap_s=GAP)
    assert summary is not None and len(summary.included) == 3
    assert summary.mean_pct == pytest.approx(100.0 if state == "on" else 0.0)
    assert all(d.coverage_pct == pytest.approx(100.0) for d in summary.included)


def test_a_gap_in_the_afternoon_is_unknown_not_on():
    """On in the morning, then the monitor stops at 12:00 with the display still on."""
    samples = regular(MONDAY, lambda _t: "on", 300.0, hours=(7, 12))
    (day,) = summarize(samples, SHANGHAI, max_gap_s=GAP, min_coverage_pct=0).days
    assert day.on_s == pytest.approx(4 * 3600 + 300)  # the 11:55 sample holds until 12:00:00
    assert day.coverage_pct == pytest.approx(100 * (4 * 3600 + 300) / SCHOOL_S)
    assert day.usage_pct == pytest.approx(100.0)  # of the time observed ...
    assert day.min_pct == pytest.approx(100 * (4 * 3600 + 300) / SCHOOL_S)  # ... not of the day
    summary = summarize(samples, SHANGHAI, max_gap_s=GAP)
    assert summary is not None and summary.mean_pct is None
    assert "coverage" in summary.excluded[0].reason_en


def test_half_day_use_and_excluded_days_with_reasons():
    def morning(t: dt.time) -> str:
        return "on" if dt.time(8) <= t < dt.time(12, 30) else "off"

    cal = SchoolCalendar.parse("08:00-17:00", "mon-fri", "Asia/Shanghai",
                               holidays=["2024-09-04"])
    samples = [s for d in DAYS for s in regular(d, morning)]
    samples = [s for s in samples if not (s.at >= at(DAYS[3], 12))]  # Thursday: stops at noon
    summary = summarize(samples, cal, max_gap_s=GAP,
                        now=at(DAYS[3], 23))
    assert summary is not None
    assert [d.day for d in summary.days] == [DAYS[0], DAYS[1], DAYS[3]]  # Wednesday: holiday
    assert [d.day for d in summary.included] == [DAYS[0], DAYS[1]]
    assert summary.mean_pct == pytest.approx(50.0)
    assert [e.day for e in summary.excluded] == [DAYS[3]]
    assert summary.as_dict()["excluded_days"][0]["reason_zh"].startswith("采样覆盖率")
    # today's school hours not over yet -> left out, whatever the coverage
    early = summarize(samples, cal, max_gap_s=GAP, now=at(DAYS[1], 16))
    assert early is not None and "not over" in early.excluded[0].reason_en


def test_make_up_school_day_on_a_weekend_counts():
    saturday = MONDAY + dt.timedelta(days=5)
    cal = SchoolCalendar.parse(extra_days=[saturday.isoformat()])
    samples = regular(saturday, lambda _t: "on")
    summary = summarize(samples, cal, max_gap_s=GAP)
    assert summary is not None and [d.day for d in summary.included] == [saturday]
    assert summarize(samples, SHANGHAI, max_gap_s=GAP).days == ()


# ---------------------------------------------------------------- time zones ----------------
@settings(max_examples=200, deadline=None)
@given(SAMPLES)
def test_shanghai_equals_a_fixed_utc_plus_8(samples):
    """China has no daylight saving time: the IANA zone and a fixed +08:00 agree exactly."""
    fixed = SchoolCalendar.parse(timezone="UTC+08:00")
    for a, b in zip(per_day(samples), per_day(samples, cal=fixed), strict=True):
        assert (a.on_s, a.observed_s, a.school_s) == (b.on_s, b.observed_s, b.school_s)


@settings(max_examples=200, deadline=None)
@given(st.dates(dt.date(2000, 1, 1), dt.date(2040, 1, 1)),
       st.sampled_from(["Asia/Shanghai", "Asia/Urumqi", "UTC+08:00", "Europe/Berlin",
                        "America/New_York"]))
def test_school_hours_last_their_wall_clock_length_every_day(day, tz):
    cal = SchoolCalendar.parse("08:00-17:00", "mon-sun", tz)
    ((lo, hi),) = cal.windows(day)
    assert (hi - lo).total_seconds() == SCHOOL_S  # no DST switch happens inside 08:00-17:00
    assert lo.astimezone(cal.tz).time() == dt.time(8) and cal.local_date(lo) == day


def test_utc_samples_fall_on_the_local_school_day():
    # 2024-09-02 00:30 UTC is 08:30 in Shanghai: Monday school hours, not Sunday night.
    sample = Sample(dt.datetime(2024, 9, 2, 0, 30, tzinfo=dt.UTC), "on")
    spans = build_spans([sample], 3600)
    monday = day_usage(spans, SHANGHAI, MONDAY)
    assert monday.on_s == 3600 and SHANGHAI.local_date(sample.at) == MONDAY
    assert day_usage(spans, SHANGHAI, MONDAY - dt.timedelta(days=1)).school_s == 0


# ---------------------------------------------------------------- lamp hours ----------------
def test_lamp_check_compares_counters_with_observed_on_time():
    samples = [Sample(at(MONDAY, 8), "on", (100,)), Sample(at(MONDAY, 9), "on", (101,)),
               Sample(at(MONDAY, 10), "off", (102,))]
    check = lamp_check(samples, 3600)
    assert check is not None and check.delta_h == 2 and check.observed_on_h == pytest.approx(2)
    replaced = samples[:2] + [Sample(at(MONDAY, 10), "off", (3,))]
    assert lamp_check(replaced, 3600).delta_h is None
    assert lamp_check([Sample(at(MONDAY, 8), "on", ())], 3600) is None
