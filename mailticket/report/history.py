"""A department's history for the report, read from the events: a few queries per
department, whatever the number of tickets."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from mailticket.report.figures import Arrival, History, Stop
from mailticket.store.models import Event, Ticket

ARRIVALS = ("created", "customer_message")  # a customer message that awaits an answer
STOPS = ("answered", "state_changed")


def load(session: Session, departments: list[str], since: datetime, until: datetime,
         now: datetime) -> dict[str, History]:
    """Per department: arrivals in [since, until), and what stopped clocks from ``since``
    on (an answer after the period still decides a message of the period).  One pass
    over the period's events for all departments; only state changes carry a detail."""
    rows = session.execute(
        select(Ticket.department, Event.ticket_id, Event.at, Event.kind, Event.actor,
               case((Event.kind == "state_changed", Event.detail)), Ticket.language)
        .join(Ticket, Ticket.id == Event.ticket_id)
        .where(Event.kind.in_(ARRIVALS + STOPS), Event.at >= since, Event.at <= now)
        .order_by(Event.at, Event.id))
    got = {d: History([], [], []) for d in departments}
    for dept, ticket, at, kind, actor, detail, language in rows:
        h = got.get(dept)
        if h is None:
            continue
        if kind in ARRIVALS:
            if at < until:
                h.arrivals.append(Arrival(ticket, at, language))
                if kind == "created":
                    h.tickets_created.append((ticket, at))
        elif kind == "answered":
            h.stops.append(Stop(ticket, at, actor))
        else:
            new, old = (detail or {}).get("new"), (detail or {}).get("old")
            if new in ("closed", "pending"):
                h.stops.append(Stop(ticket, at, None))
            if at < until:
                h.closed += new == "closed"
                h.reopened += old == "closed" and new == "open"
    tallies(session, got, since, until)
    return got


def tallies(session: Session, got: dict[str, History], since: datetime,
            until: datetime) -> None:
    """What both ways of reading the history count the same: escalations, tickets solved
    by the FAQ, the backlog now."""
    # Escalation mails from the events that sent them (one mail per person in ``to``),
    # read through the events' kind index: the messages table has no index by kind, and
    # scanning it reads every stored mail.
    for dept, detail in session.execute(
            select(Ticket.department, Event.detail).join(Ticket, Ticket.id == Event.ticket_id)
            .where(Event.kind == "sla_escalation", Event.at >= since, Event.at < until)):
        if dept in got:
            got[dept].escalations += len((detail or {}).get("to") or ())
    for dept, n in session.execute(
            select(Ticket.department, func.count()).join(Event, Event.ticket_id == Ticket.id)
            .where(Event.kind == "solved_by_faq", Event.at >= since, Event.at < until)
            .group_by(Ticket.department)):
        if dept in got:
            got[dept].solved_by_faq = n
    for dept, n in session.execute(
            select(Ticket.department, func.count()).where(Ticket.state != "closed")
            .group_by(Ticket.department)):
        if dept in got:
            got[dept].open_now = n
    for dept, oldest in session.execute(
            select(Ticket.department, func.min(Ticket.clock_started_at))
            .where(Ticket.due_at.is_not(None)).group_by(Ticket.department)):
        if dept in got:
            got[dept].oldest_unanswered_since = oldest
