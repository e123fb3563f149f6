"""A department's history for the report, read from the events: a few queries per
department, whatever the number of tickets."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailticket.report.figures import Arrival, History, Stop
from mailticket.store.models import Event, Message, Ticket

ARRIVALS = ("created", "customer_message")  # a customer message that awaits an answer
STOPS = ("answered", "state_changed")


def load(session: Session, department: str, since: datetime, until: datetime,
         now: datetime) -> History:
    """Arrivals in [since, until); what stopped clocks from ``since`` on (an answer after
    the period still decides a message of the period)."""
    rows = session.execute(
        select(Event.ticket_id, Event.at, Event.kind, Event.actor, Event.detail, Ticket.language)
        .join(Ticket, Ticket.id == Event.ticket_id)
        .where(Ticket.department == department, Event.kind.in_(ARRIVALS + STOPS),
               Event.at >= since, Event.at <= now)
        .order_by(Event.at, Event.id))
    arrivals, stops, created = [], [], []
    reopened = closed = 0
    for ticket, at, kind, actor, detail, language in rows:
        if kind in ARRIVALS:
            if at < until:
                arrivals.append(Arrival(ticket, at, language))
                if kind == "created":
                    created.append((ticket, at))
        elif kind == "answered":
            stops.append(Stop(ticket, at, actor))
        else:
            new, old = (detail or {}).get("new"), (detail or {}).get("old")
            if new in ("closed", "pending"):
                stops.append(Stop(ticket, at, None))
            if at < until:
                closed += new == "closed"
                reopened += old == "closed" and new == "open"
    escalations = session.scalar(
        select(func.count()).select_from(Message).join(Ticket, Ticket.id == Message.ticket_id)
        .where(Ticket.department == department, Message.kind == "escalation",
               Message.direction == "out", Message.date >= since, Message.date < until)) or 0
    solved = session.scalar(
        select(func.count()).select_from(Event).join(Ticket, Ticket.id == Event.ticket_id)
        .where(Ticket.department == department, Event.kind == "solved_by_faq",
               Event.at >= since, Event.at < until)) or 0
    open_now = session.scalar(select(func.count()).select_from(Ticket).where(
        Ticket.department == department, Ticket.state != "closed")) or 0
    oldest = session.scalar(select(func.min(Ticket.clock_started_at)).where(
        Ticket.department == department, Ticket.due_at.is_not(None)))
    return History(arrivals, stops, created, escalations=escalations, reopened=reopened,
                   closed=closed, solved_by_faq=solved, open_now=open_now,
                   oldest_unanswered_since=oldest)
