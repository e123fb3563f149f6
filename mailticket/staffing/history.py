"""What the staffing replay reads from the database: the customer messages of the last
weeks and the handle times agents recorded with ``#time``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailticket.report.history import ARRIVALS
from mailticket.store.models import Event, Ticket

TIME_SPENT = "time_spent"  # an agent's "#time 12m": detail {"minutes": 12}


def arrivals(session: Session, departments: list[str], since: datetime,
             until: datetime) -> dict[str, list[datetime]]:
    """When each customer message of each department in [since, until) arrived, in
    order: one pass over the period's events for all of them."""
    out: dict[str, list[datetime]] = {d: [] for d in departments}
    for dept, at in session.execute(
            select(Ticket.department, Event.at).join(Ticket, Ticket.id == Event.ticket_id)
            .where(Event.kind.in_(ARRIVALS), Event.at >= since, Event.at < until)
            .order_by(Event.at)):
        got = out.get(dept)
        if got is not None:
            got.append(at)
    return out


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
