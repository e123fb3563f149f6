"""Where the SLA clock starts and stops, and the instant it promises: pure arithmetic on a
ticket's fields, so what an agent or a report sees follows from them alone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from mailticket.sla.calendar import BusinessCalendar, parse_duration
from mailticket.sla.clock import promise, start_clock, started, stop_clock, stopped
from mailticket.sla.state import sla_state

WEEK = {d: "09:00-17:00" for d in ("mon", "tue", "wed", "thu", "fri")}
CAL = BusinessCalendar("Europe/Paris", WEEK, "FR")
MONDAY = datetime(2026, 11, 23, 9, 30, 20, 5, tzinfo=UTC)  # 10:30:20 in Paris


@dataclass
class _Ticket:
    clock_started_at: datetime | None = None
    due_at: datetime | None = None
    warn_at: datetime | None = None
    next_notice_at: datetime | None = None
    escalation_level: int = 3
    answered_at: datetime | None = None
    last_due_at: datetime | None = None


def test_the_promise_is_rounded_up_to_the_minute_the_customer_is_shown():
    due = promise(CAL, parse_duration("4 business hours"), MONDAY)
    assert due == datetime(2026, 11, 23, 13, 31, tzinfo=UTC)


def test_a_promise_in_seconds_is_not_rounded():
    due = promise(CAL, parse_duration("90 seconds"), MONDAY)
    assert due == MONDAY + timedelta(seconds=90)


def test_a_customer_message_starts_the_clock_at_level_zero():
    t = _Ticket()
    due, warn = MONDAY + timedelta(hours=8), MONDAY + timedelta(hours=6)
    start_clock(t, MONDAY, due, warn)
    assert (t.clock_started_at, t.due_at, t.warn_at, t.next_notice_at, t.escalation_level) == (
        MONDAY, due, warn, warn, 0)
    assert sla_state(t, MONDAY) == "on_track"


def test_a_running_clock_keeps_its_earlier_promise():
    t = _Ticket(clock_started_at=MONDAY, due_at=MONDAY + timedelta(hours=1),
                warn_at=MONDAY, next_notice_at=MONDAY)
    assert started(t, MONDAY + timedelta(minutes=5), MONDAY + timedelta(days=1),
                   MONDAY + timedelta(hours=20)) is None
    start_clock(t, MONDAY + timedelta(minutes=5), MONDAY + timedelta(days=1), MONDAY)
    assert t.due_at == MONDAY + timedelta(hours=1) and t.escalation_level == 3


def _running() -> _Ticket:
    return _Ticket(clock_started_at=MONDAY, due_at=MONDAY + timedelta(hours=1),
                   warn_at=MONDAY + timedelta(minutes=45),
                   next_notice_at=MONDAY + timedelta(minutes=45))


def test_an_answer_in_time_is_met_and_a_late_one_breached():
    for after, sla in ((timedelta(minutes=10), "met"), (timedelta(hours=2), "breached")):
        t = _running()
        stop_clock(t, MONDAY + after)
        assert (t.due_at, t.warn_at, t.clock_started_at, t.next_notice_at) == (None,) * 4
        assert (t.answered_at, t.last_due_at) == (MONDAY + after, MONDAY + timedelta(hours=1))
        assert sla_state(t, MONDAY + timedelta(days=1)) == sla


def test_a_close_without_an_answer_is_breached_only_once_due():
    early, late = _running(), _running()
    stop_clock(early, MONDAY + timedelta(minutes=10), answered=False)
    stop_clock(late, MONDAY + timedelta(hours=2), answered=False)
    assert sla_state(early, MONDAY + timedelta(days=1)) is None
    assert sla_state(late, MONDAY + timedelta(days=1)) == "breached"


def test_stopping_without_a_running_clock_changes_nothing():
    t = _Ticket(answered_at=MONDAY, last_due_at=MONDAY)
    assert stopped(t, MONDAY + timedelta(hours=1)) is None
    stop_clock(t, MONDAY + timedelta(hours=1), answered=False)
    assert (t.answered_at, t.last_due_at) == (MONDAY, MONDAY)
