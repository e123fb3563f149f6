"""What the staffing replay reads from the database: the customer messages of the last
weeks and the handle times agents recorded with ``#time``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailticket.report.history import ARRIVALS
from mailticket.store.models import Event, Ticket

TIME_SPENT = "time_spent"  # an agent's "#time 12m": detail {"minutes": 12}


def arrivals(session: Session, department: str, since: datetime,
             until: datetime) -> list[datetime]:
    """When each customer message of ``department`` in [since, until) arrived, in order."""
    return list(session.scalars(
        select(Event.at).join(Ticket, Ticket.id == Event.ticket_id)
        .where(Event.kind.in_(ARRIVALS), Event.at >= since, Event.at < until,
               Ticket.department == department)
        .order_by(Event.at)))


def recorded_minutes(session: Session, department: str, since: datetime,
                     until: datetime) -> list[float]:
    """The minutes agents recorded (``time_spent`` events) in [since, until)."""
    out = []
    for detail in session.scalars(
            select(Event.detail).join(Ticket, Ticket.id == Event.ticket_id)
            .where(Event.kind == TIME_SPENT, Event.at >= since, Event.at < until,
                   Ticket.department == department)):
        minutes = (detail or {}).get("minutes")
        if isinstance(minutes, int | float) and minutes > 0:
            out.append(float(minutes))
    return out
