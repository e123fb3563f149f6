"""The departments' calendars as the report's tables need them (sla/waits.py), made
once per process.  Apart from ``waits`` so that the App can hand them to its sessions
without loading the ORM: a command that only reads never does (tests/test_cli_imports.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from mailticket.config import Config
from mailticket.sla.calendar import BusinessCalendar, Duration
from mailticket.sla.clock import promise

BUILT = "waits_built"  # settings key: the tables hold every event's projection
INFO_KEY = "waits"  # session.info key of the Book (the App puts it there)


class DepartmentTime:
    """One department's calendar as the rows need it: the promise, open time, local time."""

    def __init__(self, cal: BusinessCalendar, response: Duration, zone: ZoneInfo) -> None:
        self.cal, self.response, self.zone = cal, response, zone
        self.open_time: Any = None  # report.opentime.OpenTime over a rebuild's dates

    def due(self, at: datetime) -> datetime:
        return promise(self.cal, self.response, at)

    def business(self, a: datetime, b: datetime) -> float:
        if self.open_time is not None:
            return float(self.open_time.between(a, b).total_seconds())
        return (self.cal.open_time_between(a, b) if b > a else timedelta(0)).total_seconds()

    def local(self, at: datetime) -> tuple[str, int]:
        t = at.astimezone(self.zone)
        return t.date().isoformat(), t.hour


class Book:
    """Each configured department's ``DepartmentTime``, made once per process."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._known: dict[str, DepartmentTime | None] = {}

    def of(self, department: str) -> DepartmentTime | None:
        """None for a department no longer configured: the report does not show it."""
        if department not in self._known:
            try:
                dept = self.config.department(department)
            except KeyError:
                self._known[department] = None
            else:
                self._known[department] = DepartmentTime(
                    self.config.calendar_for(dept), self.config.sla_for(dept).response_duration,
                    ZoneInfo((dept.calendar or self.config.calendar).timezone))
        return self._known[department]
