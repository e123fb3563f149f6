"""The report's open time in one subtraction equals the calendar's own count (evenings,
weekends, a holiday, the DST night of 25 October 2026 in Paris)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from mailticket.config import parse_config
from mailticket.report.opentime import OpenTime
from tests.test_report import CALENDAR

CONFIG = parse_config(CALENDAR.split("[sla]")[0] + """
[[departments]]
name = "support"
address = "support@example.com"
""", "x.toml")
CAL = CONFIG.calendar_for(CONFIG.departments[0])
OPEN = OpenTime(CAL, date(2026, 10, 1), date(2026, 11, 30))
BASE = datetime(2026, 10, 1, tzinfo=UTC)
instants = st.integers(0, 61 * 24 * 60 * 60).map(lambda s: BASE + timedelta(seconds=s))


@settings(max_examples=300, deadline=None)
@given(instants, instants)
def test_open_time_is_the_calendars(a: datetime, b: datetime) -> None:
    assert OPEN.between(a, b) == CAL.open_time_between(a, b)


def test_outside_its_range_it_asks_the_calendar() -> None:
    a, b = datetime(2026, 9, 1, 10, tzinfo=UTC), datetime(2026, 12, 24, 10, tzinfo=UTC)
    assert OPEN.between(a, b) == CAL.open_time_between(a, b) > timedelta(0)
    # 11 November (Armistice) is a holiday in France: no open time that day.
    assert OPEN.between(datetime(2026, 11, 11, tzinfo=UTC),
                        datetime(2026, 11, 12, tzinfo=UTC)) == timedelta(0)
