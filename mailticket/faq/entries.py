"""FAQ entries in the database: what the CLI, ``#faq`` replies and suggestions read and
write.  Each function works in the caller's session (its transaction)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailticket.faq.exchange import NewEntry
from mailticket.store.models import FaqEntry

# Bounds on what one entry keeps (a #faq reply may quote a whole mail).
MAX_QUESTION = 4000
MAX_ANSWER = 20000


def add(session: Session, entry: NewEntry, now: datetime, *, agent: str | None = None,
        ticket: int | None = None) -> FaqEntry:
    row = FaqEntry(department=entry.department, language=entry.language,
                   question=entry.question[:MAX_QUESTION], answer=entry.answer[:MAX_ANSWER],
                   state=entry.state, origin="agent" if agent else "admin",
                   origin_agent=agent, origin_ticket=ticket, suggested=0, solved=0,
                   created_at=now, updated_at=now)
    session.add(row)
    return row


def listing(session: Session, *, department: str | None = None, language: str | None = None,
            state: str | None = None) -> list[FaqEntry]:
    q = select(FaqEntry).order_by(FaqEntry.department, FaqEntry.language, FaqEntry.id)
    if department:
        q = q.where(FaqEntry.department == department)
    if language:
        q = q.where(FaqEntry.language == language)
    if state:
        q = q.where(FaqEntry.state == state)
    return list(session.scalars(q))


def published(session: Session, department: str, language: str) -> list[tuple[int, str, str]]:
    """(id, question, answer) of what suggestions may show."""
    rows = session.execute(select(FaqEntry.id, FaqEntry.question, FaqEntry.answer).where(
        FaqEntry.department == department, FaqEntry.language == language,
        FaqEntry.state == "published").order_by(FaqEntry.id))
    return [(i, q, a) for i, q, a in rows]


def versions(session: Session, department: str) -> dict[str, tuple[int, Any]]:
    """Per language, what changes whenever a published entry of this department in it
    is added, edited, published or removed (count, newest ``updated_at``): tells a
    cached index that it is stale.  One query for every language; a language without
    published entries is missing (its version is ``(0, None)``)."""
    rows = session.execute(
        select(FaqEntry.language, func.count(), func.max(FaqEntry.updated_at))
        .where(FaqEntry.department == department, FaqEntry.state == "published")
        .group_by(FaqEntry.language))
    return {language: (int(count), newest) for language, count, newest in rows}


def get(session: Session, entry_id: int) -> FaqEntry | None:
    return session.get(FaqEntry, entry_id)



def as_dict(e: FaqEntry) -> dict[str, Any]:
    """The fields of ``faq list --json`` (docs/cli.md), then where it came from."""
    return {"id": e.id, "department": e.department, "language": e.language,
            "question": e.question, "answer": e.answer, "state": e.state,
            "suggested": e.suggested, "solved": e.solved, "origin": e.origin,
            "origin_agent": e.origin_agent, "origin_ticket": e.origin_ticket,
            "created_at": e.created_at.isoformat(), "updated_at": e.updated_at.isoformat()}
