"""Business-calendar arithmetic for SLA due instants.

Pure functions of their arguments: no clock, no I/O (the ``holidays`` package computes
public holidays from rules, it does not fetch anything). Every instant given must be
timezone-aware; every instant returned is in UTC. The exact definitions, with worked
examples, are in ``docs/sla.md``; keep the two in step.

Model: each local date has zero or more open intervals ``[start, end)``. Local wall times
are turned into real instants by one rule, "the first instant at which the local clock
shows that date and time, or later" (see ``_resolve``), so intervals stay ordered and
disjoint across DST changes, and every due instant is in open time or at an interval end.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "BUSINESS_DAYS",
    "BUSINESS_HOURS",
    "HOURS",
    "MINUTES",
    "SECONDS",
    "BusinessCalendar",
    "Duration",
    "parse_duration",
]

BUSINESS_DAYS = "business_days"
BUSINESS_HOURS = "business_hours"
MINUTES = "minutes"
HOURS = "hours"
SECONDS = "seconds"  # wall clock; for trying things out and for tests
_UNITS = (BUSINESS_DAYS, BUSINESS_HOURS, MINUTES, HOURS, SECONDS)
_UNIT_WORDS = {
    BUSINESS_DAYS: ("business day", "business days"),
    BUSINESS_HOURS: ("business hour", "business hours"),
    MINUTES: ("minute", "minutes"),
    HOURS: ("hour", "hours"),
    SECONDS: ("second", "seconds"),
}

#: How far ahead a search for open time may go before the calendar is declared empty.
SEARCH_LIMIT_DAYS = 3 * 366

_DAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_INDEX = {name: i for names in (_DAY_KEYS, _DAY_NAMES) for i, name in enumerate(names)}
_MINUTES_PER_DAY = 24 * 60
_DAY_CACHE_MAX = 20_000

_DURATION_RE = re.compile(
    r"^\s*(\d+)\s+(?:(business)\s+)?(day|days|hour|hours|minute|minutes|second|seconds)\s*$",
    re.IGNORECASE,
)
_DURATION_HELP = "use 'N business days', 'N business hours', 'N hours' or 'N minutes'"
_TIME_RE = r"(\d{1,2}):(\d{2})"
_INTERVAL_RE = re.compile(rf"^\s*{_TIME_RE}\s*-\s*{_TIME_RE}\s*$")
_DATE_RE = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})\s*(.*?)\s*$")
_HOURS_HELP = (
    "expected 'HH:MM-HH:MM', or several separated by commas like '08:00-12:00,13:00-17:30'"
)

# (start, end) in minutes after local midnight; end may be 1440 ("24:00").
_WallInterval = tuple[int, int]
_Interval = tuple[datetime, datetime]


# --------------------------------------------------------------------------- durations


@dataclass(frozen=True)
class Duration:
    """An SLA allowance such as "1 business day" or "30 minutes"."""

    amount: int
    unit: str

    def __post_init__(self) -> None:
        if self.unit not in _UNITS:
            raise ValueError(f"unknown duration unit {self.unit!r}; expected one of {_UNITS}")
        if isinstance(self.amount, bool) or not isinstance(self.amount, int) or self.amount < 1:
            raise ValueError(f"duration amount must be a whole number >= 1, not {self.amount!r}")

    @property
    def is_business(self) -> bool:
        """True when only open time counts (business days/hours), False for wall clock."""
        return self.unit in (BUSINESS_DAYS, BUSINESS_HOURS)

    def __str__(self) -> str:
        singular, plural = _UNIT_WORDS[self.unit]
        return f"{self.amount} {singular if self.amount == 1 else plural}"


_PERIOD_RE = re.compile(
    r"^\s*(\d+)\s+(second|seconds|minute|minutes|hour|hours|day|days|week|weeks)\s*$",
    re.IGNORECASE)
_PERIOD_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 604800}


def parse_period(text: str) -> timedelta:
    """A wall-clock period ("365 days", "4 hours", "30 seconds"): how long to keep or wait
    for something, where business time has no meaning (retention, feedback delays)."""
    match = _PERIOD_RE.match(text) if isinstance(text, str) else None
    if match is None or int(match.group(1)) < 1:
        raise ValueError(f"{text!r} is not a period; use 'N days', 'N hours', 'N minutes', "
                         "'N seconds' or 'N weeks' (N ≥ 1)")
    unit = _PERIOD_UNITS[match.group(2).lower().rstrip("s")]
    return timedelta(seconds=int(match.group(1)) * unit)


def parse_duration(text: str) -> Duration:
    """Parse the config spelling of a duration ("2 business days", "30 minutes", ...).

    Singular and plural are both accepted whatever the number, so "1 business days" is
    not an error an admin has to chase.
    """
    match = _DURATION_RE.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not a duration; {_DURATION_HELP}")
    amount = int(match.group(1))
    business = match.group(2) is not None
    word = match.group(3).lower().rstrip("s")
    if amount < 1:
        raise ValueError(
            f"{text!r} is not a duration (the number must be 1 or more); {_DURATION_HELP}"
        )
    if business and word == "day":
        unit = BUSINESS_DAYS
    elif business and word == "hour":
        unit = BUSINESS_HOURS
    elif not business and word == "hour":
        unit = HOURS
    elif not business and word == "minute":
        unit = MINUTES
    elif not business and word == "second":
        unit = SECONDS
    else:  # "N days" (ambiguous: calendar or business?) and "N business minutes"
        raise ValueError(f"{text!r} is not a duration; {_DURATION_HELP}")
    return Duration(amount, unit)


# --------------------------------------------------------------------------- config parsing


def _parse_time(hh: str, mm: str, *, allow_24: bool, text: str) -> int:
    hour, minute = int(hh), int(mm)
    if minute > 59 or hour > 24 or (hour == 24 and (minute != 0 or not allow_24)):
        raise ValueError(f"{text!r} contains an invalid time {hh}:{mm}; {_HOURS_HELP}")
    return hour * 60 + minute


def _parse_hours(text: str, where: str) -> tuple[_WallInterval, ...]:
    """Parse "08:00-12:00,13:00-17:30" into sorted, merged minute intervals."""
    if not isinstance(text, str):
        raise ValueError(f"{where}: {text!r} is not a string of opening hours; {_HOURS_HELP}")
    if text.strip().lower() in ("", "closed"):
        return ()
    intervals: list[_WallInterval] = []
    for part in text.split(","):
        match = _INTERVAL_RE.match(part)
        if match is None:
            raise ValueError(f"{where}: {text!r} is not a list of opening hours; {_HOURS_HELP}")
        start = _parse_time(match.group(1), match.group(2), allow_24=False, text=text)
        end = _parse_time(match.group(3), match.group(4), allow_24=True, text=text)
        if end <= start:
            raise ValueError(
                f"{where}: {part.strip()!r} ends before it starts; {_HOURS_HELP} "
                "(an interval cannot cross midnight: use '22:00-24:00' and '00:00-06:00')"
            )
        intervals.append((start, end))
    intervals.sort()
    merged: list[_WallInterval] = []
    for start, end in intervals:
        if merged and start < merged[-1][1]:
            raise ValueError(f"{where}: intervals in {text!r} overlap; {_HOURS_HELP}")
        if merged and start == merged[-1][1]:
            merged[-1] = (merged[-1][0], end)  # "08:00-12:00,12:00-17:00" is one interval
        else:
            merged.append((start, end))
    return tuple(merged)


def _parse_date(value: date | str, where: str) -> date:
    if isinstance(value, datetime):
        raise ValueError(f"{where}: {value!r} is a date-time; expected a date 'YYYY-MM-DD'")
    if isinstance(value, date):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*\d{4}-\d{2}-\d{2}\s*", value):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"{where}: {value!r} is not a date; expected 'YYYY-MM-DD'")


def _load_timezone(name: str) -> ZoneInfo:
    try:
        if not isinstance(name, str) or not name.strip():
            raise ValueError
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(
            f"unknown timezone {name!r}; expected an IANA name such as 'Europe/Paris'"
        ) from None


def _holidays() -> ModuleType:
    """The holidays package, loading only the countries asked for.

    ``country_holidays`` imports just the one country's module, but importing it runs
    ``holidays.countries``'s ``__init__``, which imports all 250 (6.7 MB the daemon
    would carry for ever).  That package is stood in for by a bare one over the same
    folder; the first name asked of it (``from holidays.countries import X``) loads the
    real one, so nothing else sees a difference."""
    import holidays

    if "holidays.countries" not in sys.modules:
        bare = ModuleType("holidays.countries")
        bare.__path__ = [f"{holidays.__path__[0]}/countries"]
        bare.__package__ = "holidays.countries"

        def real(name: str) -> Any:
            if sys.modules.get("holidays.countries") is bare:
                del sys.modules["holidays.countries"]
            import importlib

            return getattr(importlib.import_module("holidays.countries"), name)

        bare.__getattr__ = real  # type: ignore[method-assign]
        sys.modules["holidays.countries"] = bare
    return holidays


def _holiday_source(code: str) -> tuple[str, str | None]:
    """Validate "FR" / "DE-BY" / "US-NY" against the holidays package; return (country, subdiv)."""
    form = "expected a country code such as 'FR', optionally with a subdivision such as 'DE-BY'"
    if not isinstance(code, str) or not code.strip():
        raise ValueError(f"invalid holidays value {code!r}; {form}")
    country, _, subdiv = code.strip().partition("-")
    country = country.strip().upper()
    # Asking for the one country, not list_supported_countries(): that imports all of
    # the package's 250 countries, 8 MB the daemon would carry for ever.
    holidays_lib = _holidays()  # here: a calendar without holidays never loads it

    try:
        base = holidays_lib.country_holidays(country)
    except NotImplementedError:
        raise ValueError(f"unknown holidays country code {country!r} in {code!r}; {form}") \
            from None
    if not subdiv.strip():
        return country, None
    names = {name.lower(): name for name in base.subdivisions}
    aliases = getattr(base, "subdivisions_aliases", {}) or {}
    names.update({alias.lower(): name for alias, name in aliases.items()})
    canonical = names.get(subdiv.strip().lower())
    if canonical is None:
        known = ", ".join(base.subdivisions) or "none"
        raise ValueError(
            f"unknown subdivision {subdiv.strip()!r} of {country} in {code!r}; known: {known}"
        )
    return country, canonical


def _utc(instant: datetime, name: str = "instant") -> datetime:
    if not isinstance(instant, datetime) or instant.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {instant!r}")
    return instant.astimezone(UTC)


# --------------------------------------------------------------------------- the calendar


class BusinessCalendar:
    """Open hours of one department: weekly hours, public holidays, extra closed/open days."""

    def __init__(
        self,
        timezone: str,
        hours: dict[str, str],
        holidays: str | None = None,
        closed: Iterable[date | str] = (),
        open: Iterable[date | str] = (),  # the config key; shadows the builtin here only
    ) -> None:
        self.timezone = timezone
        self._tz = _load_timezone(timezone)

        if not isinstance(hours, dict):
            raise ValueError(f"hours must be a table like {{ mon = '09:00-17:00' }}, not {hours!r}")
        weekly: list[tuple[_WallInterval, ...]] = [() for _ in _DAY_KEYS]
        for key, value in hours.items():
            index = _DAY_INDEX.get(str(key).strip().lower())
            if index is None:
                raise ValueError(f"unknown day {key!r} in hours; expected one of mon..sun")
            weekly[index] = _parse_hours(value, f"hours.{_DAY_KEYS[index]}")
        self._weekly = tuple(weekly)

        self._closed = frozenset(_parse_date(d, "closed") for d in closed)
        self._open: dict[date, tuple[_WallInterval, ...]] = {}
        default_hours = next((h for h in self._weekly if h), None)
        for entry in open:
            day, day_hours = self._parse_open_day(entry, default_hours)
            self._open[day] = day_hours
        both = sorted(self._closed & self._open.keys())
        if both:
            raise ValueError(f"{both[0].isoformat()} is listed both in closed and in open")
        if not any(self._weekly) and not any(self._open.values()):
            raise ValueError(
                "the calendar has no open hours at all; set hours such as { mon = '09:00-17:00' }"
            )

        self._holiday_code = holidays
        self._holiday_source = None if holidays is None else _holiday_source(holidays)
        self._holiday_years: dict[int, frozenset[date]] = {}
        self._days: dict[date, tuple[_Interval, ...]] = {}

    def __repr__(self) -> str:
        return f"BusinessCalendar(timezone={self.timezone!r}, holidays={self._holiday_code!r})"

    @staticmethod
    def _parse_open_day(
        entry: date | str, default_hours: tuple[_WallInterval, ...] | None
    ) -> tuple[date, tuple[_WallInterval, ...]]:
        form = "expected 'YYYY-MM-DD' or 'YYYY-MM-DD HH:MM-HH:MM[,HH:MM-HH:MM]'"
        if isinstance(entry, date) and not isinstance(entry, datetime):
            day, spec = entry, ""
        else:
            match = _DATE_RE.match(entry) if isinstance(entry, str) else None
            if match is None:
                raise ValueError(f"open: {entry!r} is not an open day; {form}")
            day, spec = _parse_date(match.group(1), "open"), match.group(2)
        if spec:
            day_hours = _parse_hours(spec, f"open {day.isoformat()}")
            if not day_hours:
                raise ValueError(f"open: {entry!r} opens no hours; {form}")
            return day, day_hours
        if default_hours is None:
            raise ValueError(
                f"open: {entry!r} has no hours and no weekday has hours to copy; {form}"
            )
        return day, default_hours

    # ----------------------------------------------------------------- days and intervals

    def _is_holiday(self, day: date) -> bool:
        if self._holiday_source is None:
            return False
        dates = self._holiday_years.get(day.year)
        if dates is None:
            country, subdiv = self._holiday_source
            found = _holidays().country_holidays(country, subdiv=subdiv, years=day.year)
            dates = frozenset(found.keys())
            self._holiday_years[day.year] = dates
        return day in dates

    def _wall_hours(self, day: date) -> tuple[_WallInterval, ...]:
        """Local opening hours of a date; an extra open day wins over closed days and holidays."""
        extra = self._open.get(day)
        if extra is not None:
            return extra
        if day in self._closed or self._is_holiday(day):
            return ()
        return self._weekly[day.weekday()]

    def _resolve(self, day: date, wall: time) -> datetime:
        """The first instant at which the local clock shows `day` `wall` or later, in UTC.

        An ambiguous wall time (clocks going back) is its first occurrence; a wall time
        skipped by clocks going forward is the instant of the jump.
        """
        local = datetime.combine(day, wall.replace(fold=0), tzinfo=self._tz)
        utc = local.astimezone(UTC)
        naive = local.replace(tzinfo=None)
        if utc.astimezone(self._tz).replace(tzinfo=None) == naive:
            return utc
        # Skipped: fold=0 used the offset from before the jump, so the jump lies in
        # (local - offset_after, utc]. Bisect in microseconds for the first instant whose
        # wall reading is >= the wanted one.
        lo = naive - local.replace(fold=1).utcoffset()  # type: ignore[operator]
        lo_us, hi_us = 0, int((utc.replace(tzinfo=None) - lo) / timedelta(microseconds=1))
        while hi_us - lo_us > 1:
            mid = (lo_us + hi_us) // 2
            probe = (lo + timedelta(microseconds=mid)).replace(tzinfo=UTC)
            if probe.astimezone(self._tz).replace(tzinfo=None) >= naive:
                hi_us = mid
            else:
                lo_us = mid
        return (lo + timedelta(microseconds=hi_us)).replace(tzinfo=UTC)

    def _resolve_minutes(self, day: date, minutes: int) -> datetime:
        if minutes >= _MINUTES_PER_DAY:
            return self._resolve(day + timedelta(days=1), time(0))
        return self._resolve(day, time(minutes // 60, minutes % 60))

    def _day(self, day: date) -> tuple[_Interval, ...]:
        """Open intervals of a local date as UTC instants (cached: add() runs per mail)."""
        cached = self._days.get(day)
        if cached is not None:
            return cached
        intervals = []
        for start_min, end_min in self._wall_hours(day):
            start = self._resolve_minutes(day, start_min)
            end = self._resolve_minutes(day, end_min)
            if start < end:  # an interval inside a skipped DST hour is empty
                intervals.append((start, end))
        result = tuple(intervals)
        if len(self._days) >= _DAY_CACHE_MAX:
            self._days.clear()
        self._days[day] = result
        return result

    def _local_date(self, instant: datetime) -> date:
        return instant.astimezone(self._tz).date()

    def _intervals_from(self, instant: datetime) -> Iterator[tuple[date, int, datetime, datetime]]:
        """Yield (day, index, start, end) of every open interval ending after `instant`.

        Starts one day early because around a DST change an interval of one date can hold
        instants whose local date is another. Raises ValueError after SEARCH_LIMIT_DAYS
        consecutive days without open time.
        """
        day = self._local_date(instant) - timedelta(days=1)
        empty_days = 0
        while True:
            intervals = self._day(day)
            found = False
            for index, (start, end) in enumerate(intervals):
                if end > instant:
                    found = True
                    yield day, index, start, end
            if found or intervals:
                empty_days = 0
            else:
                empty_days += 1
                if empty_days > SEARCH_LIMIT_DAYS:
                    raise ValueError(
                        f"no open time within {SEARCH_LIMIT_DAYS} days after "
                        f"{instant.isoformat()}; check the calendar's hours, closed and open days"
                    )
            day += timedelta(days=1)

    # ----------------------------------------------------------------- public API

    def intervals(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """Open intervals ``[start, end)`` of a local date, as UTC instants (empty: closed)."""
        return self._day(day)

    @property
    def zone(self) -> ZoneInfo:
        """The calendar's time zone (local dates and wall times are read in it)."""
        return self._tz

    @property
    def holiday_code(self) -> str | None:
        """The ``holidays`` setting as configured ("FR", "DE-BY"), or None."""
        return self._holiday_code

    def weekly_hours(self) -> tuple[tuple[tuple[int, int], ...], ...]:
        """Usual open intervals of Monday … Sunday, in minutes after local midnight."""
        return self._weekly

    def day_kind(self, day: date) -> str:
        """Why a local date is (not) open: "open", "holiday" (public holiday), "closed"
        (one of the extra closed days) or "weekly" (that weekday has no hours)."""
        if self._wall_hours(day):
            return "open"
        if day in self._open or not self._weekly[day.weekday()]:
            return "weekly"
        return "closed" if day in self._closed else "holiday"

    def is_open_day(self, day: date) -> bool:
        """True when the local date has any open time."""
        return bool(self._day(day))

    def is_open(self, instant: datetime) -> bool:
        """True when `instant` is in open time (interval start inclusive, end exclusive)."""
        utc = _utc(instant)
        day = self._local_date(utc)
        for offset in (-1, 0, 1):
            for start, end in self._day(day + timedelta(days=offset)):
                if start <= utc < end:
                    return True
        return False

    def next_open_day(self, day: date) -> date:
        """The first date strictly after `day` that has open time."""
        candidate = day
        for _ in range(SEARCH_LIMIT_DAYS):
            candidate += timedelta(days=1)
            if self._day(candidate):
                return candidate
        raise ValueError(
            f"no open day within {SEARCH_LIMIT_DAYS} days after {day.isoformat()}; "
            "check the calendar's hours, closed and open days"
        )

    def open_time_between(self, a: datetime, b: datetime) -> timedelta:
        """Open time in ``[a, b)``; zero when b <= a."""
        lo, hi = _utc(a, "a"), _utc(b, "b")
        total = timedelta(0)
        if hi <= lo:
            return total
        day = self._local_date(lo) - timedelta(days=1)
        last = self._local_date(hi) + timedelta(days=1)
        while day <= last:
            for start, end in self._day(day):
                overlap = min(end, hi) - max(start, lo)
                if overlap > timedelta(0):
                    total += overlap
            day += timedelta(days=1)
        return total

    def add_open_time(self, start: datetime, amount: timedelta) -> datetime:
        """The instant at which `amount` of open time has passed since `start`.

        Counting begins at the next opening when `start` is closed. A result that uses up
        an interval exactly is that interval's end, not the next opening, so the promise is
        the earliest instant that satisfies it. A zero amount returns `start` itself.
        """
        utc = _utc(start, "start")
        if amount < timedelta(0):
            raise ValueError(f"amount of open time must not be negative, got {amount}")
        if amount == timedelta(0):
            return utc
        remaining = amount
        for _day, _index, begin, end in self._intervals_from(utc):
            begin = max(begin, utc)
            available = end - begin
            if remaining <= available:
                return begin + remaining
            remaining -= available
        raise AssertionError("unreachable: _intervals_from is endless or raises")

    def add(self, start: datetime, duration: Duration) -> datetime:
        """The due instant of something received at `start` with `duration` allowed."""
        utc = _utc(start, "start")
        if duration.unit == MINUTES:
            return utc + timedelta(minutes=duration.amount)
        if duration.unit == HOURS:
            return utc + timedelta(hours=duration.amount)
        if duration.unit == SECONDS:
            return utc + timedelta(seconds=duration.amount)
        if duration.unit == BUSINESS_HOURS:
            return self.add_open_time(utc, timedelta(hours=duration.amount))
        return self._add_business_days(utc, duration.amount)

    def _add_business_days(self, utc: datetime, count: int) -> datetime:
        """See docs/sla.md, "Business days". Only the last day is clamped, so clamping
        never accumulates over several days."""
        day, index, begin, _end = next(self._intervals_from(utc))
        if begin <= utc:  # open: same local time on the next open day
            wall: time | None = utc.astimezone(self._tz).time()
            steps = count
        elif index > 0:  # a gap between two intervals of `day`: counts from the reopening
            wall = begin.astimezone(self._tz).time()
            steps = count
        else:  # closed before `day` opens: `day` is the first business day
            wall = None
            steps = count - 1
        for _ in range(steps):
            day = self.next_open_day(day)
        intervals = self._day(day)
        if wall is None:
            return intervals[-1][1]
        return self._clamp(day, intervals, wall)

    def _clamp(self, day: date, intervals: tuple[_Interval, ...], wall: time) -> datetime:
        """The latest open instant of `day` at or before local time `wall`; the end of the
        first interval when `day` opens only after `wall`."""
        target = self._resolve(day, wall)
        best: datetime | None = None
        for start, end in intervals:
            if start > target:
                break
            best = min(target, end)
        return best if best is not None else intervals[0][1]

    def warn_instant(self, start: datetime, duration: Duration, fraction: float) -> datetime:
        """When `fraction` of the allowed time has elapsed: of the open time between start
        and due for business units, of the wall time for wall-clock units."""
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"warn fraction must be between 0 and 1, got {fraction!r}")
        utc = _utc(start, "start")
        due = self.add(utc, duration)
        if fraction >= 1.0:
            return due
        if not duration.is_business:
            return utc + (due - utc) * fraction
        allowed = self.open_time_between(utc, due)
        return self.add_open_time(utc, allowed * fraction)
