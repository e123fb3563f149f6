"""Business-calendar arithmetic: the worked examples of docs/sla.md, then properties."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mailticket.sla.calendar import BusinessCalendar, Duration, parse_duration

PARIS = ZoneInfo("Europe/Paris")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
ALL_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

ONE_DAY = parse_duration("1 business day")
TWO_DAYS = parse_duration("2 business days")
FOUR_HOURS = parse_duration("4 business hours")


def paris(y: int, mo: int, d: int, h: int = 0, mi: int = 0, fold: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, fold=fold, tzinfo=PARIS)


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


def weekly(spec: str, days: tuple[str, ...] = WEEKDAYS) -> dict[str, str]:
    return dict.fromkeys(days, spec)


@pytest.fixture(scope="module")
def reference() -> BusinessCalendar:
    """The calendar of config.example.toml and of the examples in docs/sla.md."""
    return BusinessCalendar("Europe/Paris", weekly("09:00-17:00"), "FR", ["2026-12-24"])


@pytest.fixture(scope="module")
def lunch() -> BusinessCalendar:
    return BusinessCalendar("Europe/Paris", weekly("08:00-12:00,13:00-17:30"), "FR")


@pytest.fixture(scope="module")
def round_the_clock() -> BusinessCalendar:
    return BusinessCalendar("Europe/Paris", weekly("00:00-24:00", ALL_DAYS))


# --------------------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 business day", Duration(1, "business_days")),
        ("2 business days", Duration(2, "business_days")),
        ("4 business hours", Duration(4, "business_hours")),
        ("1 business hour", Duration(1, "business_hours")),
        ("30 minutes", Duration(30, "minutes")),
        ("1 minute", Duration(1, "minutes")),
        ("2 hours", Duration(2, "hours")),
        ("1 hour", Duration(1, "hours")),
        ("  3   Business   DAYS ", Duration(3, "business_days")),
        ("1 business days", Duration(1, "business_days")),
    ],
)
def test_parse_duration(text: str, expected: Duration) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text", ["3 weeks", "2 days", "0 minutes", "business day", "1.5 hours", "-1 hours", ""]
)
def test_parse_duration_rejects_with_the_accepted_forms(text: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration(text)
    assert repr(text) in str(info.value)
    assert "'N business days', 'N business hours', 'N hours' or 'N minutes'" in str(info.value)


def test_duration_properties() -> None:
    assert Duration(1, "business_days").is_business
    assert Duration(4, "business_hours").is_business
    assert not Duration(30, "minutes").is_business
    assert not Duration(2, "hours").is_business
    assert str(Duration(1, "business_days")) == "1 business day"
    assert str(Duration(2, "business_hours")) == "2 business hours"
    assert str(Duration(30, "minutes")) == "30 minutes"
    with pytest.raises(ValueError):
        Duration(0, "minutes")
    with pytest.raises(ValueError):
        Duration(1, "weeks")


# --------------------------------------------------------------------------- worked examples


def test_friday_16_00(reference: BusinessCalendar) -> None:
    friday = paris(2026, 11, 20, 16)
    assert reference.add(friday, ONE_DAY) == paris(2026, 11, 23, 16)
    assert reference.add(friday, TWO_DAYS) == paris(2026, 11, 24, 16)
    assert reference.add(friday, FOUR_HOURS) == paris(2026, 11, 23, 12)
    assert reference.add(friday, parse_duration("30 minutes")) == paris(2026, 11, 20, 16, 30)
    assert reference.add(friday, parse_duration("2 hours")) == paris(2026, 11, 20, 18)
    # 8 open hours are allowed: 1 on Friday, 7 on Monday; 6 of them (75 %) have passed
    # on Monday at 14:00.
    assert reference.open_time_between(friday, paris(2026, 11, 23, 16)) == timedelta(hours=8)
    assert reference.warn_instant(friday, ONE_DAY, 0.75) == paris(2026, 11, 23, 14)
    assert reference.warn_instant(friday, ONE_DAY, 1.0) == paris(2026, 11, 23, 16)
    assert reference.warn_instant(friday, ONE_DAY, 0.0) == friday
    half_hour = parse_duration("30 minutes")
    assert reference.warn_instant(friday, half_hour, 0.5) == paris(2026, 11, 20, 16, 15)


def test_returns_utc(reference: BusinessCalendar) -> None:
    due = reference.add(paris(2026, 11, 20, 16), ONE_DAY)
    assert due.tzinfo is UTC
    assert due == utc(2026, 11, 23, 15)
    assert reference.add(paris(2026, 11, 20, 16), parse_duration("1 minute")).tzinfo is UTC


def test_saturday_and_other_closed_times(reference: BusinessCalendar) -> None:
    assert reference.add(paris(2026, 11, 21, 10), ONE_DAY) == paris(2026, 11, 23, 17)
    assert reference.add(paris(2026, 11, 21, 10), TWO_DAYS) == paris(2026, 11, 24, 17)
    assert reference.add(paris(2026, 11, 21, 10), FOUR_HOURS) == paris(2026, 11, 23, 13)
    # Before opening on an open day: that same day counts.
    assert reference.add(paris(2026, 11, 23, 7), ONE_DAY) == paris(2026, 11, 23, 17)
    # The closing instant is already closed (end exclusive): the following open day.
    assert reference.add(paris(2026, 11, 23, 17), ONE_DAY) == paris(2026, 11, 24, 17)
    # The design's promise "by Tuesday 24 November, 17:00 CET": mail on Monday evening.
    assert reference.add(paris(2026, 11, 23, 18, 30), ONE_DAY) == paris(2026, 11, 24, 17)
    # The opening instant is open: same local time next open day.
    assert reference.add(paris(2026, 11, 23, 9), ONE_DAY) == paris(2026, 11, 24, 9)


def test_is_open_boundaries(reference: BusinessCalendar) -> None:
    assert reference.is_open(paris(2026, 11, 23, 9))
    assert reference.is_open(paris(2026, 11, 23, 16, 59))
    assert not reference.is_open(paris(2026, 11, 23, 17))
    assert not reference.is_open(paris(2026, 11, 23, 8, 59))
    assert not reference.is_open(paris(2026, 11, 21, 12))  # Saturday
    assert not reference.is_open(paris(2026, 7, 14, 12))  # Fête nationale
    assert not reference.is_open(paris(2026, 12, 24, 12))  # extra closed day
    assert reference.is_open(utc(2026, 11, 23, 8))  # 09:00 in Paris


def test_eve_of_public_holiday(reference: BusinessCalendar) -> None:
    # Tuesday 14 July is a public holiday in France.
    assert reference.add(paris(2026, 7, 13, 10), ONE_DAY) == paris(2026, 7, 15, 10)
    assert reference.add(paris(2026, 7, 13, 18), ONE_DAY) == paris(2026, 7, 15, 17)
    # 24 December closed extra, 25 December holiday, then the weekend.
    assert reference.add(paris(2026, 12, 23, 15), ONE_DAY) == paris(2026, 12, 28, 15)
    assert reference.add(paris(2026, 12, 23, 15), FOUR_HOURS) == paris(2026, 12, 28, 11)
    assert reference.next_open_day(date(2026, 12, 23)) == date(2026, 12, 28)
    assert reference.next_open_day(date(2026, 7, 13)) == date(2026, 7, 15)


def test_night_of_dst_end(reference: BusinessCalendar) -> None:
    friday = paris(2026, 10, 23, 16)  # CEST, 14:00 UTC
    assert reference.add(friday, ONE_DAY) == utc(2026, 10, 26, 15)  # Monday 16:00 CET
    assert reference.add(friday, FOUR_HOURS) == paris(2026, 10, 26, 12)
    # Wall-clock durations are elapsed time: 8 hours after Saturday 22:00 CEST the
    # clock reads 05:00 CET, not 06:00.
    assert reference.add(paris(2026, 10, 24, 22), parse_duration("8 hours")) == utc(2026, 10, 25, 4)


def test_night_of_dst_start(reference: BusinessCalendar) -> None:
    assert reference.add(paris(2026, 3, 27, 16), ONE_DAY) == utc(2026, 3, 30, 14)  # 16:00 CEST
    assert reference.add(paris(2026, 3, 28, 22), parse_duration("8 hours")) == utc(
        2026, 3, 29, 5
    )  # 07:00 CEST


def test_dst_local_times_round_the_clock(round_the_clock: BusinessCalendar) -> None:
    cal = round_the_clock
    # 29 March 2026, 02:30 does not exist in Paris: the instant the clock jumps to 03:00.
    assert cal.add(paris(2026, 3, 28, 2, 30), ONE_DAY) == utc(2026, 3, 29, 1)
    # 25 October 2026, 02:30 happens twice: the first time (CEST) ...
    assert cal.add(paris(2026, 10, 24, 2, 30), ONE_DAY) == utc(2026, 10, 25, 0, 30)
    # ... unless the day already is 25 October: from the second 02:30 the next day.
    assert cal.add(paris(2026, 10, 25, 2, 30, fold=1), ONE_DAY) == utc(2026, 10, 26, 1, 30)
    # A day has the length of its night.
    assert cal.intervals(date(2026, 3, 29)) == ((utc(2026, 3, 28, 23), utc(2026, 3, 29, 22)),)
    assert cal.intervals(date(2026, 10, 25)) == ((utc(2026, 10, 24, 22), utc(2026, 10, 25, 23)),)


def test_hours_across_dst_change() -> None:
    cal = BusinessCalendar("Europe/Paris", {"sun": "01:00-05:00", "mon": "02:30-06:00"})
    assert cal.open_time_between(utc(2026, 3, 28), utc(2026, 3, 30)) == timedelta(hours=3)
    assert cal.open_time_between(utc(2026, 10, 24), utc(2026, 10, 26)) == timedelta(hours=5)
    # An interval that starts in the skipped hour opens when the clock jumps.
    night = BusinessCalendar("Europe/Paris", {"sun": "02:30-06:00"})
    assert night.intervals(date(2026, 3, 29)) == ((utc(2026, 3, 29, 1), utc(2026, 3, 29, 4)),)
    # An interval wholly inside the skipped hour leaves the day closed.
    skipped = BusinessCalendar("Europe/Paris", {"sun": "02:10-02:50", "mon": "09:00-17:00"})
    assert not skipped.is_open_day(date(2026, 3, 29))
    assert skipped.is_open_day(date(2026, 3, 22))
    assert skipped.next_open_day(date(2026, 3, 28)) == date(2026, 3, 30)


def test_lunch_break(lunch: BusinessCalendar) -> None:
    monday = date(2026, 11, 23)
    assert lunch.add(paris(2026, 11, 23, 11), parse_duration("2 business hours")) == paris(
        2026, 11, 23, 14
    )
    assert lunch.add(paris(2026, 11, 23, 12, 30), parse_duration("2 business hours")) == paris(
        2026, 11, 23, 15
    )
    assert lunch.add(paris(2026, 11, 23, 11), ONE_DAY) == paris(2026, 11, 24, 11)
    # Received during lunch: counts from the reopening at 13:00.
    assert lunch.add(paris(2026, 11, 23, 12, 30), ONE_DAY) == paris(2026, 11, 24, 13)
    assert lunch.add(paris(2026, 11, 23, 12), ONE_DAY) == paris(2026, 11, 24, 13)
    assert not lunch.is_open(paris(2026, 11, 23, 12))
    assert lunch.open_time_between(paris(2026, 11, 23), paris(2026, 11, 24)) == timedelta(
        hours=8, minutes=30
    )
    assert lunch.intervals(monday) == (
        (paris(2026, 11, 23, 8), paris(2026, 11, 23, 12)),
        (paris(2026, 11, 23, 13), paris(2026, 11, 23, 17, 30)),
    )


def test_clamping_on_the_due_day() -> None:
    hours = weekly("08:00-17:30") | {"tue": "08:00-12:00,13:00-17:30", "fri": "09:00-15:00"}
    cal = BusinessCalendar("Europe/Paris", hours | {"sat": "10:00-12:00"})
    # The same local time falls in Tuesday's lunch break: latest open instant before it.
    assert cal.add(paris(2026, 11, 23, 12, 30), ONE_DAY) == paris(2026, 11, 24, 12)
    # Friday closes earlier: Friday's closing time.
    assert cal.add(paris(2026, 11, 26, 16), ONE_DAY) == paris(2026, 11, 27, 15)
    # Saturday opens only after 09:00: the end of Saturday's first interval ...
    assert cal.add(paris(2026, 11, 27, 9), ONE_DAY) == paris(2026, 11, 28, 12)
    # ... while a later message is due earlier: why business days are not monotonic.
    assert cal.add(paris(2026, 11, 27, 11), ONE_DAY) == paris(2026, 11, 28, 11)
    # Several days: only the last day is clamped, nothing accumulates.
    assert cal.add(paris(2026, 11, 26, 16), TWO_DAYS) == paris(2026, 11, 28, 12)
    assert cal.add(paris(2026, 11, 26, 16), parse_duration("3 business days")) == paris(
        2026, 11, 30, 16
    )


def test_extra_open_day() -> None:
    hours = weekly("09:00-17:00")
    sunday = BusinessCalendar("Europe/Paris", hours, "FR", open=["2026-11-22 10:00-14:00"])
    assert sunday.add(paris(2026, 11, 20, 16), ONE_DAY) == paris(2026, 11, 22, 14)
    assert sunday.is_open(paris(2026, 11, 22, 10))
    copy = BusinessCalendar("Europe/Paris", hours, "FR", open=["2026-11-22"])
    assert copy.add(paris(2026, 11, 20, 16), ONE_DAY) == paris(2026, 11, 22, 16)
    # An extra open day wins over a public holiday.
    bastille = BusinessCalendar("Europe/Paris", hours, "FR", open=[date(2026, 7, 14)])
    assert bastille.add(paris(2026, 7, 13, 10), ONE_DAY) == paris(2026, 7, 14, 10)


def test_subdivision_holidays() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    start = datetime(2026, 1, 5, 10, tzinfo=berlin)  # Monday; 6 January is Epiphany in Bavaria
    bavaria = BusinessCalendar("Europe/Berlin", weekly("09:00-17:00"), "DE-BY")
    berlin_cal = BusinessCalendar("Europe/Berlin", weekly("09:00-17:00"), "DE-BE")
    assert bavaria.add(start, ONE_DAY) == datetime(2026, 1, 7, 10, tzinfo=berlin)
    assert berlin_cal.add(start, ONE_DAY) == datetime(2026, 1, 6, 10, tzinfo=berlin)
    # Codes are case-insensitive.
    lower = BusinessCalendar("Europe/Berlin", weekly("09:00-17:00"), "de-by")
    assert lower.add(start, ONE_DAY) == datetime(2026, 1, 7, 10, tzinfo=berlin)


def test_other_holiday_sources() -> None:
    for code in ("SE", "US-NY", "BG"):
        BusinessCalendar("UTC", weekly("09:00-17:00"), code)
    new_york = BusinessCalendar("America/New_York", weekly("09:00-17:00"), "US-NY")
    assert not new_york.is_open_day(date(2026, 7, 3))  # Independence Day observed (Friday)


def test_a_calendar_loads_only_its_own_country_and_the_package_is_still_whole() -> None:
    """In a fresh process: the calendar's holidays are the package's own, only its
    country's module is loaded (not all 250: 6.7 MB), and a later import of the
    package's names finds them all."""
    code = (
        "import sys\n"
        "from datetime import date, timedelta\n"
        "from mailticket.sla.calendar import BusinessCalendar\n"
        "cal = BusinessCalendar('Europe/Berlin', {'mon': '09:00-17:00'}, 'DE-BY')\n"
        "days = [date(y, 1, 1) + timedelta(n) for y in (2025, 2026) for n in range(365)]\n"
        "ours = [d for d in days if cal._is_holiday(d)]\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('holidays.countries.'))\n"
        "from holidays.countries import France, Germany\n"
        "theirs = sorted(Germany(subdiv='BY', years=(2025, 2026)))\n"
        "print(ours == theirs, len(ours), len(loaded), France.__name__)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    same, count, loaded, name = done.stdout.split()
    assert same == "True" and int(count) > 20 and name == "France"
    assert int(loaded) < 5  # germany (and what it builds on), not 250 countries


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("kwargs", "fragments"),
    [
        ({"timezone": "Europe/Pariss"}, ["'Europe/Pariss'", "IANA"]),
        ({"timezone": ""}, ["timezone", "IANA"]),
        ({"hours": {"mon": "9-17"}}, ["'9-17'", "HH:MM-HH:MM"]),
        ({"hours": {"mon": "17:00-09:00"}}, ["'17:00-09:00'", "ends before it starts"]),
        ({"hours": {"mon": "09:00-09:00"}}, ["'09:00-09:00'", "ends before it starts"]),
        ({"hours": {"mon": "09:00-25:00"}}, ["25:00", "HH:MM-HH:MM"]),
        ({"hours": {"mon": "09:00-12:00,11:00-17:00"}}, ["overlap", "HH:MM-HH:MM"]),
        ({"hours": {"mon": "09:00-17:00", "funday": "09:00-17:00"}}, ["'funday'", "mon..sun"]),
        ({"hours": {}}, ["no open hours"]),
        ({"hours": {"mon": "closed"}}, ["no open hours"]),
        ({"holidays": "XX"}, ["'XX'", "'DE-BY'"]),
        ({"holidays": "DE-ZZ"}, ["'ZZ'", "BY"]),
        ({"closed": ["24/12/2026"]}, ["'24/12/2026'", "YYYY-MM-DD"]),
        ({"open": ["2026-11-22 10-14"]}, ["'10-14'", "HH:MM-HH:MM"]),
        ({"open": ["next sunday"]}, ["'next sunday'", "YYYY-MM-DD"]),
        ({"closed": ["2026-11-22"], "open": ["2026-11-22"]}, ["2026-11-22", "closed", "open"]),
    ],
)
def test_invalid_configuration(kwargs: dict[str, object], fragments: list[str]) -> None:
    args: dict[str, object] = {"timezone": "Europe/Paris", "hours": weekly("09:00-17:00")}
    with pytest.raises(ValueError) as info:
        BusinessCalendar(**(args | kwargs))  # type: ignore[arg-type]
    for fragment in fragments:
        assert fragment in str(info.value)


def test_hours_forms() -> None:
    cal = BusinessCalendar(
        "UTC", {"Monday": "9:00-12:00, 12:00-17:00", "tue": "22:00-24:00", "wed": "closed"}
    )
    assert cal.intervals(date(2026, 11, 23)) == ((utc(2026, 11, 23, 9), utc(2026, 11, 23, 17)),)
    assert cal.intervals(date(2026, 11, 24)) == ((utc(2026, 11, 24, 22), utc(2026, 11, 25)),)
    assert cal.intervals(date(2026, 11, 25)) == ()


def test_naive_instants_are_rejected(reference: BusinessCalendar) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        reference.add(datetime(2026, 11, 20, 16), ONE_DAY)
    with pytest.raises(ValueError, match="timezone-aware"):
        reference.is_open(datetime(2026, 11, 20, 16))


def test_search_is_bounded() -> None:
    only_once = BusinessCalendar("UTC", {}, open=["2026-01-05 09:00-17:00"])
    assert only_once.add(utc(2026, 1, 1), ONE_DAY) == utc(2026, 1, 5, 17)
    with pytest.raises(ValueError, match="no open"):
        only_once.add(utc(2026, 1, 6), ONE_DAY)
    with pytest.raises(ValueError, match="no open"):
        only_once.add(utc(2026, 1, 5, 12), parse_duration("6 business hours"))
    with pytest.raises(ValueError, match="no open"):
        only_once.next_open_day(date(2026, 1, 5))
    with pytest.raises(ValueError, match="between 0 and 1"):
        only_once.warn_instant(utc(2026, 1, 1), ONE_DAY, 1.5)
    with pytest.raises(ValueError, match="negative"):
        only_once.add_open_time(utc(2026, 1, 1), timedelta(hours=-1))


def test_open_time_helpers(reference: BusinessCalendar) -> None:
    start = paris(2026, 11, 20, 16)
    assert reference.add_open_time(start, timedelta(hours=1)) == paris(2026, 11, 20, 17)
    assert reference.add_open_time(start, timedelta(0)) == start
    assert reference.add_open_time(paris(2026, 11, 21), timedelta(0)) == paris(2026, 11, 21)
    assert reference.open_time_between(start, start) == timedelta(0)
    assert reference.open_time_between(paris(2026, 11, 24), start) == timedelta(0)
    # Year 2026: 261 weekdays, minus 9 weekday holidays and 24 December, 8 hours each.
    year = reference.open_time_between(paris(2026, 1, 1), paris(2027, 1, 1))
    assert year == timedelta(hours=8 * (261 - 9 - 1))


# --------------------------------------------------------------------------- properties

ZONES = (
    "Europe/Paris",
    "America/New_York",
    "Australia/Lord_Howe",  # 30-minute DST shift
    "America/Santiago",  # changes at midnight
    "UTC",
)


@cache
def transitions(zone: str) -> tuple[datetime, ...]:
    """UTC instants of the zone's offset changes, 2025-2027, plus a plain instant."""
    tz = ZoneInfo(zone)
    found = [utc(2026, 6, 10, 12)]
    instant, end = utc(2025, 1, 1), utc(2028, 1, 1)
    offset = instant.astimezone(tz).utcoffset()
    while instant < end:
        instant += timedelta(minutes=30)
        current = instant.astimezone(tz).utcoffset()
        if current != offset:
            found.append(instant)
            offset = current
    return tuple(found)


def _hours_text(points: list[int]) -> str:
    def fmt(minutes: int) -> str:
        return f"{minutes // 60:02d}:{minutes % 60:02d}"

    pairs = zip(points[::2], points[1::2], strict=True)
    return ",".join(f"{fmt(a)}-{fmt(b)}" for a, b in pairs)


# Quarter hours, biased to the small hours where the DST changes happen.
QUARTER = st.one_of(st.integers(0, 96), st.integers(0, 16)).map(lambda q: q * 15)


@st.composite
def day_hours(draw: st.DrawFn, points: st.SearchStrategy[int] = QUARTER) -> str:
    count = draw(st.integers(0, 3))
    chosen = draw(st.sets(points, min_size=2 * count, max_size=2 * count))
    return _hours_text(sorted(chosen))


DATES = st.dates(min_value=date(2024, 12, 20), max_value=date(2028, 1, 10))


@st.composite
def calendars(draw: st.DrawFn, uniform: bool = False) -> BusinessCalendar:
    """Random calendars; `uniform` ones have the same hours on every open day, away from
    the hours any of ZONES changes its clocks (04:00-23:00)."""
    zone = draw(st.sampled_from(ZONES))
    if uniform:
        inside = st.integers(16, 92).map(lambda q: q * 15)
        text = draw(day_hours(inside).filter(bool))
        days = draw(st.sets(st.sampled_from(ALL_DAYS), min_size=1))
        hours = dict.fromkeys(days, text)
    else:
        hours = {day: draw(day_hours()) for day in ALL_DAYS}
        assume(any(hours.values()))
    closed = draw(st.sets(DATES, max_size=15))
    open_days: list[str] = []
    for day in draw(st.sets(DATES, max_size=4)):
        if day in closed:
            continue
        extra = "" if uniform else draw(day_hours())
        open_days.append(f"{day.isoformat()} {extra}".strip())
    holidays = draw(st.sampled_from([None, None, "FR", "US-NY"]))
    return BusinessCalendar(zone, hours, holidays, closed, open_days)


@st.composite
def instants(draw: st.DrawFn, cal: BusinessCalendar) -> datetime:
    base = draw(st.sampled_from(transitions(cal.timezone)))
    seconds = draw(
        st.one_of(
            st.integers(-4 * 86400, 4 * 86400),
            st.integers(-4 * 96, 4 * 96).map(lambda q: q * 900),  # on the quarter hours
        )
    )
    zone = draw(st.sampled_from([UTC, ZoneInfo(cal.timezone)]))
    return (base + timedelta(seconds=seconds)).astimezone(zone)


BUSINESS_DURATIONS = st.one_of(
    st.integers(1, 3).map(lambda n: Duration(n, "business_days")),
    st.integers(1, 30).map(lambda n: Duration(n, "business_hours")),
)
ANY_DURATION = st.one_of(
    BUSINESS_DURATIONS,
    st.integers(1, 600).map(lambda n: Duration(n, "minutes")),
    st.integers(1, 48).map(lambda n: Duration(n, "hours")),
)
OPEN_TIME = st.integers(1, 40 * 3600).map(lambda s: timedelta(seconds=s))

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def as_utc(instant: datetime) -> datetime:
    """Compare in UTC: Python compares two datetimes of the same zone by wall time,
    ignoring fold, so the second 02:30 of a DST change sorts before the first 02:45."""
    return instant.astimezone(UTC)


def days_around(cal: BusinessCalendar, instant: datetime) -> list[date]:
    local = instant.astimezone(ZoneInfo(cal.timezone)).date()
    return [local + timedelta(days=k) for k in (-1, 0, 1)]


def in_open_time_or_at_end(cal: BusinessCalendar, instant: datetime) -> bool:
    if cal.is_open(instant):
        return True
    return any(end == instant for d in days_around(cal, instant) for _, end in cal.intervals(d))


def due_days(cal: BusinessCalendar, instant: datetime) -> set[date]:
    """The open days whose open time holds `instant` (or ends at it): two at a 24:00/00:00
    seam."""
    return {
        d
        for d in days_around(cal, instant)
        for start, end in cal.intervals(d)
        if start <= instant <= end
    }


@PROPERTY
@given(st.data())
def test_due_instant_is_open_or_closing_boundary(data: st.DataObject) -> None:
    cal = data.draw(calendars())
    start = data.draw(instants(cal))
    duration = data.draw(BUSINESS_DURATIONS)
    due = cal.add(start, duration)
    assert due.tzinfo is UTC
    assert due > as_utc(start)
    assert in_open_time_or_at_end(cal, due)
    assert cal.warn_instant(start, duration, 1.0) == due
    warn = cal.warn_instant(start, duration, data.draw(st.floats(0, 1)))
    assert as_utc(start) <= warn <= due


@PROPERTY
@given(st.data())
def test_monotonic_for_business_hours_and_wall_clock(data: st.DataObject) -> None:
    cal = data.draw(calendars())
    s1, s2 = sorted([data.draw(instants(cal)), data.draw(instants(cal))], key=as_utc)
    duration = data.draw(
        st.one_of(
            st.integers(1, 30).map(lambda n: Duration(n, "business_hours")),
            st.integers(1, 600).map(lambda n: Duration(n, "minutes")),
            st.integers(1, 48).map(lambda n: Duration(n, "hours")),
        )
    )
    assert cal.add(s1, duration) <= cal.add(s2, duration)


@PROPERTY
@given(st.data())
def test_business_days_due_day_never_moves_back(data: st.DataObject) -> None:
    """Business days are not monotonic in general (docs/sla.md explains why); the due
    *day* is: a later message is never due on an earlier day."""
    cal = data.draw(calendars())
    s1, s2 = sorted([data.draw(instants(cal)), data.draw(instants(cal))], key=as_utc)
    duration = Duration(data.draw(st.integers(1, 3)), "business_days")
    d1, d2 = due_days(cal, cal.add(s1, duration)), due_days(cal, cal.add(s2, duration))
    assert d1 and d2
    assert min(d1) <= max(d2)
    longer = Duration(duration.amount + 1, "business_days")
    assert max(due_days(cal, cal.add(s1, longer))) > min(d1)


@PROPERTY
@given(st.data())
def test_business_days_monotonic_when_every_open_day_has_the_same_hours(
    data: st.DataObject,
) -> None:
    cal = data.draw(calendars(uniform=True))
    s1, s2 = sorted([data.draw(instants(cal)), data.draw(instants(cal))], key=as_utc)
    duration = Duration(data.draw(st.integers(1, 3)), "business_days")
    assert cal.add(s1, duration) <= cal.add(s2, duration)


@PROPERTY
@given(st.data())
def test_splitting_open_time(data: st.DataObject) -> None:
    cal = data.draw(calendars())
    start = data.draw(instants(cal))
    first, second = data.draw(OPEN_TIME), data.draw(OPEN_TIME)
    middle = cal.add_open_time(start, first)
    assert cal.add_open_time(middle, second) == cal.add_open_time(start, first + second)
    hours = data.draw(st.integers(1, 20))
    assert cal.add(start, Duration(hours, "business_hours")) == cal.add_open_time(
        start, timedelta(hours=hours)
    )


@PROPERTY
@given(st.data())
def test_open_time_between_inverts_add_open_time(data: st.DataObject) -> None:
    cal = data.draw(calendars())
    start = data.draw(instants(cal))
    amount = data.draw(st.one_of(OPEN_TIME, st.just(timedelta(0))))
    assert cal.open_time_between(start, cal.add_open_time(start, amount)) == amount


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(ZONES),
    day_hours(st.integers(16, 92).map(lambda q: q * 15)).filter(bool),
    st.sets(st.sampled_from(ALL_DAYS), min_size=1),
    st.sets(DATES, max_size=15),
    st.data(),
)
def test_open_time_matches_a_minute_by_minute_oracle(
    zone: str, text: str, days: set[str], closed: set[date], data: st.DataObject
) -> None:
    """Away from the hours of DST changes, open time is what the wall clock and the
    configured hours say; the oracle reads the configuration, not the calendar."""
    cal = BusinessCalendar(zone, dict.fromkeys(days, text), closed=closed)
    tz = ZoneInfo(zone)
    spans = [tuple(time.fromisoformat(t) for t in part.split("-")) for part in text.split(",")]
    start = data.draw(instants(cal)).replace(second=0, microsecond=0)
    minutes = data.draw(st.integers(1, 36 * 60))
    oracle = 0
    for step in range(minutes):
        local = (start + timedelta(minutes=step)).astimezone(tz)
        if local.date() in closed or ALL_DAYS[local.weekday()] not in days:
            continue
        if any(a <= local.time().replace(tzinfo=None) < b for a, b in spans):
            oracle += 1
    assert cal.open_time_between(start, start + timedelta(minutes=minutes)) == timedelta(
        minutes=oracle
    )


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_is_open_agrees_with_intervals(data: st.DataObject) -> None:
    cal = data.draw(calendars())
    instant = data.draw(instants(cal))
    inside = any(s <= instant < e for d in days_around(cal, instant) for s, e in cal.intervals(d))
    assert cal.is_open(instant) == inside


def test_intervals_are_ordered_and_disjoint_across_dst() -> None:
    hours = {day: "00:00-01:00,01:30-02:30,02:45-24:00" for day in ALL_DAYS}
    for zone in ZONES:
        cal = BusinessCalendar(zone, hours)
        previous_end = None
        day = date(2026, 1, 1)
        while day < date(2027, 1, 1):
            for start, end in cal.intervals(day):
                assert start < end
                assert previous_end is None or previous_end <= start
                previous_end = end
            day += timedelta(days=1)


def test_instants_in_any_zone(reference: BusinessCalendar) -> None:
    # Seconds and microseconds are kept; the zone of the argument does not matter.
    tokyo = ZoneInfo("Asia/Tokyo")
    start = datetime.combine(date(2026, 11, 20), time(18, 0, 5, 7), tzinfo=tokyo)
    assert reference.add(start, ONE_DAY) == start + timedelta(days=3)  # Mon 10:00:05 Paris


def test_wall_clock_periods_for_retention_and_delays() -> None:
    from datetime import timedelta

    from mailticket.sla.calendar import parse_period

    assert parse_period("365 days") == timedelta(days=365)
    assert parse_period("1 week") == timedelta(days=7)
    assert parse_period("4 Hours") == timedelta(hours=4)
    assert parse_period("30 seconds") == timedelta(seconds=30)
    for bad in ("0 days", "1 business day", "soon", "3 months"):
        with pytest.raises(ValueError, match="is not a period"):
            parse_period(bad)
