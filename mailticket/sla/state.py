"""A ticket's SLA state at an instant: pure, so ``mailticket sla --at`` can ask about the future."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Clocked(Protocol):
    warn_at: datetime | None
    due_at: datetime | None
    answered_at: datetime | None
    last_due_at: datetime | None


def sla_state(t: Clocked, now: datetime) -> str | None:
    """on_track | at_risk | breached while a clock runs; for the last one, met (answered
    in time) or breached (answered late, or stopped unanswered after it was due); None
    when no clock ever ran, or the last one was stopped unanswered before it was due."""
    if t.due_at is not None:
        if now >= t.due_at:
            return "breached"
        if t.warn_at is not None and now >= t.warn_at:
            return "at_risk"
        return "on_track"
    if t.last_due_at is None:
        return None
    if t.answered_at is None or t.answered_at > t.last_due_at:
        return "breached"
    return "met"
