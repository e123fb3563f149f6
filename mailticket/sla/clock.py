"""Where a ticket's SLA clock starts and stops, and the instant it promises.

A customer message starts the clock (unless one runs: the oldest unanswered message
keeps its earlier promise); an answer, a close or #pending stops it.  ``started`` and
``stopped`` are pure (the ticket's fields and the instant in, the new values out), so
reports can ask "what would this ticket show" without touching it; ``start_clock`` and
``stop_clock`` apply them to a ticket.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Protocol

from mailticket.sla import state
from mailticket.sla.calendar import SECONDS, BusinessCalendar, Duration


class Clocked(state.Clocked, Protocol):
    """The ticket fields the clock reads and sets (beyond those its state reads)."""
    clock_started_at: datetime | None
    next_notice_at: datetime | None
    escalation_level: int


def ceil_minute(t: datetime) -> datetime:
    return t if not (t.second or t.microsecond) else (
        t.replace(second=0, microsecond=0) + timedelta(minutes=1))


def promise(cal: BusinessCalendar, duration: Duration, at: datetime) -> datetime:
    """The instant a clock started ``at`` is due.  Whole minutes (unless the duration is in
    seconds): the auto-response shows minutes, and must name this very instant."""
    due = cal.add(at, duration)
    return due if duration.unit == SECONDS else ceil_minute(due)


@dataclass(frozen=True, slots=True)
class Started:
    """A clock running from ``clock_started_at``: warned at ``warn_at``, due at ``due_at``;
    the first notice (the warning) is the next one."""
    clock_started_at: datetime
    due_at: datetime
    warn_at: datetime
    next_notice_at: datetime
    escalation_level: int = 0


@dataclass(frozen=True, slots=True)
class Stopped:
    """No clock runs; ``answered_at``/``last_due_at`` say how the last one ended."""
    answered_at: datetime | None
    last_due_at: datetime | None
    clock_started_at: None = None
    due_at: None = None
    warn_at: None = None
    next_notice_at: None = None


def started(t: Clocked, now: datetime, due: datetime, warn: datetime) -> Started | None:
    """The clock a customer message starts ``now``; None when one runs already."""
    if t.due_at is not None:
        return None
    return Started(clock_started_at=now, due_at=due, warn_at=warn, next_notice_at=warn)


def stopped(t: Clocked, now: datetime, answered: bool = True) -> Stopped | None:
    """The running clock stopped ``now``; None when none runs.

    Only an answer can keep the promise (``met`` in time, ``breached`` late).  A close
    or #pending without one is no answer: ``breached`` if the due instant had passed,
    otherwise the clock leaves no outcome (sla null: nothing was promised any more)."""
    if t.due_at is None:
        return None
    if answered:
        return Stopped(answered_at=now, last_due_at=t.due_at)
    if now >= t.due_at:
        return Stopped(answered_at=None, last_due_at=t.due_at)
    return Stopped(answered_at=None, last_due_at=None)


def _apply(t: Clocked, values: Started | Stopped | None) -> None:
    for f in fields(values) if values is not None else ():
        setattr(t, f.name, getattr(values, f.name))


def start_clock(t: Clocked, now: datetime, due: datetime, warn: datetime) -> None:
    """A customer message waits for an answer: the clock runs unless it runs already."""
    _apply(t, started(t, now, due, warn))


def stop_clock(t: Clocked, now: datetime, answered: bool = True) -> None:
    """Stop the running SLA clock and record how it ended (see ``stopped``)."""
    _apply(t, stopped(t, now, answered))
