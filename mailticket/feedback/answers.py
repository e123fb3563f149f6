"""A customer's reply to the question: a grade is recorded, not treated as a new
question (no reopen, no auto-response, no notification); anything else is a follow-up
as usual.  A low grade is told to the agents who answered."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailticket.config import Config, DepartmentConfig
from mailticket.feedback.grade import Grade, read_grade
from mailticket.store.models import FeedbackRequest, Message
from mailticket.store.records import AnyTicket
from mailticket.store.writes import Writes

log = logging.getLogger("mailticket.feedback")


class TellsLowGrades(Protocol):
    def feedback_low(self, writes: Writes, ticket: AnyTicket, dept: DepartmentConfig,
                     grade: Grade, to: list[str], now: datetime) -> None: ...


def answered_by(session: Session, ticket_id: int) -> list[str]:
    """The agents whose answers the customer graded, first answer first."""
    rows = session.scalars(select(Message.from_addr).where(
        Message.ticket_id == ticket_id, Message.kind == "agent", Message.direction == "in"
    ).order_by(Message.id))
    return list(dict.fromkeys(a for a in rows if a))


def take_grade(writes: Writes, config: Config, mailer: TellsLowGrades, ticket: AnyTicket,
               text: str, now: datetime) -> Grade | None:
    """The grade in a customer's reply to a closed ticket's question, recorded; else None."""
    if ticket.state != "closed":
        return None
    session = writes.session
    row = session.scalar(select(FeedbackRequest).where(
        FeedbackRequest.ticket_id == ticket.id, FeedbackRequest.state == "asked"))
    if row is None or (grade := read_grade(text)) is None:
        return None
    row.state, row.answered_at = "answered", now
    row.grade, row.comment = grade.value, grade.comment[:2000] or None
    writes.event(ticket.id, "feedback_received", now, ticket.customer or "customer",
                 grade=grade.value)
    log.info("ticket %d: graded %d/5", ticket.id, grade.value)
    dept = config.department(ticket.department)
    if grade.value <= config.feedback_for(dept).low_grade:
        to = answered_by(session, ticket.id) or list(dept.agents)
        if to:
            mailer.feedback_low(writes, ticket, dept, grade, to, now)
    return grade
