"""Open time between two instants in one subtraction: the report asks it for every
answer, and walking the calendar day by day each time was most of its work.  Pure."""

from __future__ import annotations

from bisect import bisect_right
from datetime import date, datetime, timedelta

from mailticket.sla.calendar import BusinessCalendar


class OpenTime:
    """``cal.open_time_between`` for instants within [first, last] (local dates), from
    the calendar's open intervals laid end to end with their running total."""

    def __init__(self, cal: BusinessCalendar, first: date, last: date) -> None:
        self.cal = cal
        self.starts: list[datetime] = []
        self.ends: list[datetime] = []
        self.before: list[timedelta] = []  # open time before each interval
        total = timedelta(0)
        day = first
        while day <= last:
            for a, b in cal.intervals(day):
                self.starts.append(a)
                self.ends.append(b)
                self.before.append(total)
                total += b - a
            day += timedelta(days=1)
        self.total = total

    def _upto(self, t: datetime) -> timedelta | None:
        if not self.starts or t < self.starts[0] or t > self.ends[-1]:
            return None
        k = bisect_right(self.starts, t) - 1
        if k < 0:
            return timedelta(0)
        return self.before[k] + min(t, self.ends[k]) - self.starts[k]

    def between(self, a: datetime, b: datetime) -> timedelta:
        """Open time in [a, b); zero when b <= a."""
        if b <= a:
            return timedelta(0)
        lo, hi = self._upto(a), self._upto(b)
        if lo is None or hi is None:
            return self.cal.open_time_between(a, b)
        return hi - lo
