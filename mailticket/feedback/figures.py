"""What ``report`` shows of the feedback: questions asked in the period, how many were
answered, the grades, per agent who answered and per week (definitions: docs/reports.md)."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from statistics import fmean
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailticket.store.models import FeedbackRequest, Message, Ticket


def _summary(asked: int, grades: list[int]) -> dict[str, Any]:
    return {"asked": asked, "answered": len(grades),
            "response_rate": round(len(grades) / asked, 3) if asked else None,
            "mean": round(fmean(grades), 2) if grades else None,
            "by_grade": {str(g): grades.count(g) for g in range(1, 6)}}


def feedback(session: Session, department: str, since: datetime, until: datetime,
             zone: ZoneInfo) -> dict[str, Any]:
    """Over the questions asked in [since, until): ``asked``, ``answered``, ``mean``,
    ``by_grade``, ``response_rate``, and the same per ``agents`` and ``weeks``."""
    rows = session.execute(select(FeedbackRequest.ticket_id, FeedbackRequest.asked_at,
                                  FeedbackRequest.grade).join(
        Ticket, Ticket.id == FeedbackRequest.ticket_id).where(
        Ticket.department == department, FeedbackRequest.asked_at >= since,
        FeedbackRequest.asked_at < until)).all()
    answerers: dict[int, set[str]] = defaultdict(set)
    for chunk in range(0, len(rows), 500):
        ids = [r.ticket_id for r in rows[chunk:chunk + 500]]
        for ticket_id, agent in session.execute(select(Message.ticket_id, Message.from_addr).where(
                Message.ticket_id.in_(ids), Message.kind == "agent", Message.direction == "in")):
            if ticket_id is not None:
                answerers[ticket_id].add(agent)
    grades = [r.grade for r in rows if r.grade is not None]
    per_agent: dict[str, tuple[Counter[str], list[int]]] = {}
    per_week: dict[str, tuple[Counter[str], list[int]]] = {}
    for r in rows:
        week = r.asked_at.astimezone(zone).strftime("%G-W%V")
        keys = [(per_week, week), *((per_agent, a) for a in sorted(answerers[r.ticket_id]))]
        for table, key in keys:
            count, got = table.setdefault(key, (Counter(), []))
            count["asked"] += 1
            if r.grade is not None:
                got.append(r.grade)
    return {**_summary(len(rows), grades),
            "agents": [{"agent": a, **_summary(c["asked"], g)}
                       for a, (c, g) in sorted(per_agent.items())],
            "weeks": [{"week": w, **_summary(c["asked"], g)}
                      for w, (c, g) in sorted(per_week.items())]}
