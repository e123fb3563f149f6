"""When to ask, and asking.  Every close writes a waiting row (``on_state_change``, from
``actions.change_state``) and a reopen cancels it; the daemon's job asks once the
department's ``delay`` has passed, if its policy says so, guarded so a restart or a
second daemon never asks twice."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Protocol

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from mailticket.config import Config, DepartmentConfig, FeedbackConfig
from mailticket.store.db import Database
from mailticket.store.models import FeedbackRequest, Message, Ticket
from mailticket.store.writes import Writes, writing

log = logging.getLogger("mailticket.feedback")


class Asks(Protocol):
    def feedback_request(self, writes: Writes, ticket: Ticket, dept: DepartmentConfig,
                         now: datetime) -> None: ...


def on_state_change(session: Session, ticket_id: int, old: str, new: str,
                    now: datetime) -> None:
    """A close arms the question (unless it was asked already); a reopen disarms it."""
    if old == "closed" and new != "closed":
        session.execute(update(FeedbackRequest).where(
            FeedbackRequest.ticket_id == ticket_id, FeedbackRequest.state == "waiting"
        ).values(state="cancelled"))
    elif new == "closed":
        row = session.scalar(select(FeedbackRequest).where(
            FeedbackRequest.ticket_id == ticket_id))
        if row is None:
            session.add(FeedbackRequest(ticket_id=ticket_id, state="waiting", closed_at=now))
        elif row.state == "cancelled":
            row.state, row.closed_at = "waiting", now


def _department(config: Config, name: str) -> DepartmentConfig | None:
    try:
        return config.department(name)
    except KeyError:
        return None


class Asker:
    """The daemon's job: ask every question whose delay has passed."""

    def __init__(self, config: Config, db: Database, mailer: Asks) -> None:
        self.config = config
        self.db = db
        self.mailer = mailer
        enabled = [config.feedback_for(d) for d in config.departments]
        self.soonest = min((f.delay_period for f in enabled if f.enabled), default=None)

    def run(self, now: datetime, batch: int = 200) -> int:
        if self.soonest is None:
            return 0  # no department asks
        with self.db.read() as s:
            ids = list(s.scalars(select(FeedbackRequest.id).where(
                FeedbackRequest.state == "waiting", FeedbackRequest.closed_at <= now - self.soonest
            ).order_by(FeedbackRequest.closed_at).limit(batch)))
        asked = 0
        for request_id in ids:
            with self.db.transaction() as s, writing(s) as w:
                asked += self._one(w, request_id, now)
        return asked

    def _one(self, w: Writes, request_id: int, now: datetime) -> int:
        s = w.session
        row = s.get(FeedbackRequest, request_id)
        if row is None or row.state != "waiting":
            return 0
        ticket = s.get(Ticket, row.ticket_id)
        dept = _department(self.config, ticket.department) if ticket else None
        policy = self.config.feedback_for(dept) if dept else None
        if policy is not None and policy.enabled and now < row.closed_at + policy.delay_period:
            return 0  # this department waits longer
        why = self._why_not(s, ticket, policy, now)
        moved = s.execute(update(FeedbackRequest).where(
            FeedbackRequest.id == request_id, FeedbackRequest.state == "waiting"
        ).values(state="cancelled" if why else "asked", asked_at=None if why else now))
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            return 0  # another daemon, or a reopen, got there first
        if why or ticket is None or dept is None:
            log.debug("ticket %d: no feedback question: %s", row.ticket_id, why)
            return 0
        self.mailer.feedback_request(w, ticket, dept, now)
        w.event(ticket.id, "feedback_asked", now)
        log.info("ticket %d: asked %s how we did", ticket.id, ticket.customer)
        return 1

    def _why_not(self, s: Session, ticket: Ticket | None, policy: FeedbackConfig | None,
                 now: datetime) -> str | None:
        """Why this closed ticket gets no question, or None to ask."""
        if ticket is None or policy is None:
            return "unknown ticket or department"
        if not policy.enabled:
            return "the department does not ask"
        if ticket.state != "closed" or not ticket.customer:
            return "not closed, or nobody to ask"
        if not s.scalar(select(exists().where(
                Message.ticket_id == ticket.id, Message.kind == "agent",
                Message.direction == "out"))):
            return "closed without an answer"
        recent = s.scalar(select(exists().where(
            FeedbackRequest.ticket_id == Ticket.id, Ticket.customer == ticket.customer,
            Ticket.id != ticket.id, FeedbackRequest.asked_at.is_not(None),
            FeedbackRequest.asked_at >= now - policy.per_customer_period)))
        return "asked this customer recently" if recent else None
