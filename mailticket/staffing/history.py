"""What the staffing replay reads from the database: the customer messages of the last
weeks and the handle times agents recorded with ``#time``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, select, type_coerce
from sqlalchemy.orm import Session

from mailticket.store.models import Event, Ticket, Wait

TIME_SPENT = "time_spent"  # an agent's "#time 12m": detail {"minutes": 12}


def arrivals(session: Session, departments: list[str], since: datetime,
             until: datetime) -> dict[str, tuple[list[datetime], list[datetime]]]:
    """When each customer message of each department in [since, until) arrived, in
    order, and the instant it was promised for, as naive UTC (the zone's conversion of
    each value cost more than the query): read from the waits table (sla/waits.py),
    one indexed range per department."""
    out: dict[str, tuple[list[datetime], list[datetime]]] = {}
    for d in departments:
        at: list[datetime] = []
        due: list[datetime] = []
        for a, b in session.execute(
                select(type_coerce(Wait.arrived_at, DateTime()),
                       type_coerce(Wait.due_at, DateTime())).where(
                    Wait.department == d, Wait.arrived_at >= since, Wait.arrived_at < until)
                .order_by(Wait.arrived_at, Wait.id)):
            at.append(a)
            due.append(b)
        out[d] = (at, due)
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
