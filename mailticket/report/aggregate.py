"""The report's figures summed in SQL from the ``waits`` and ``milestones`` tables
(sla/waits.py): a few grouped scans of one department's period, on SQLite and
PostgreSQL alike, instead of replaying its events in Python.  The same definitions
as ``figures.compute`` (docs/reports.md); tests/test_report_tables.py checks the two
give the same report."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal, or_, select
from sqlalchemy.orm import Session

from mailticket.report import history
from mailticket.report.figures import IN_TIME, LATE, OVERDUE, Figures, History
from mailticket.store.models import Milestone, Wait

_CODES = {"i": IN_TIME, "l": LATE, "o": OVERDUE}


def _outcome(now: datetime) -> ColumnElement[Any]:
    """A message's outcome (figures._outcome): its stop, if it happened by ``now``."""
    stopped = and_(Wait.stopped_at.is_not(None), Wait.stopped_at <= now)
    return case(
        (~stopped, case((Wait.due_at < now, literal("o")))),
        (Wait.answered.is_(True), case((Wait.stopped_at <= Wait.due_at, literal("i")),
                                            else_=literal("l"))),
        (Wait.stopped_at > Wait.due_at, literal("o")))


def _quantiles(session: Session, value: Any, group: Any, where: list[Any]
               ) -> dict[Any, dict[str, float | None]]:
    """Median and nearest-rank p90 of ``value`` per ``group`` (figures._quantiles),
    read with window functions: three rows per group leave the database."""
    rn = func.row_number().over(partition_by=group, order_by=value).label("rn")
    n = func.count().over(partition_by=group).label("n")
    inner = select(group.label("g"), value.label("v"), rn, n).where(*where).subquery()
    rows = session.execute(select(inner.c.g, inner.c.v, inner.c.rn, inner.c.n).where(or_(
        inner.c.rn == (inner.c.n + 1) // 2, inner.c.rn == inner.c.n // 2 + 1,
        inner.c.rn == (inner.c.n * 9 + 9) // 10)))
    picked: dict[Any, dict[int, float]] = {}
    sizes: dict[Any, int] = {}
    for g, v, r, size in rows:
        picked.setdefault(g, {})[r] = float(v)
        sizes[g] = size
    out: dict[Any, dict[str, float | None]] = {}
    for g, values in picked.items():
        size = sizes[g]
        lo, hi = values[(size + 1) // 2], values[size // 2 + 1]
        out[g] = {"median": lo if size % 2 else (lo + hi) / 2,
                  "p90": values[(size * 9 + 9) // 10]}
    return out


def compute(session: Session, department: str, hist: History, *, since: datetime,
            until: datetime, now: datetime, values: bool = False) -> Figures:
    """One department's figures; ``values``: also every first response (the page's
    chart draws their distribution)."""
    period = [Wait.department == department, Wait.arrived_at >= since,
              Wait.arrived_at < until, Wait.arrived_at <= now]
    fig = Figures(department, hist, 0, 0)
    outcome = _outcome(now).label("outcome")
    for day, hour, code, n in session.execute(
            select(Wait.day, Wait.hour, outcome, func.count()).where(*period)
            .group_by(Wait.day, Wait.hour, outcome)):
        local = date.fromisoformat(day)
        fig.customer_messages += n
        fig.by_hour[local.weekday()][hour] += n
        fig.by_day[day] += n
        if code:
            fig.outcomes[_CODES[code]] += n
            monday = (local - timedelta(days=local.weekday())).isoformat()
            fig.weekly.setdefault(monday, Counter())[_CODES[code]] += n
    for language, first, n in session.execute(
            select(Wait.language, Wait.first, func.count()).where(*period)
            .group_by(Wait.language, Wait.first)):
        fig.languages[language or "unknown"] += n
        fig.tickets += n if first else 0
    answered = [*period, Wait.first == True, Wait.answered_at.is_not(None),  # noqa: E712
                Wait.answered_at <= now]
    none: dict[str, float | None] = {"median": None, "p90": None}
    fig.quantiles = {
        "first_response": _quantiles(session, Wait.answer_seconds, Wait.department,
                                     answered).get(department, none),
        "first_response_wall": _quantiles(session, Wait.answer_wall_seconds,
                                          Wait.department, answered).get(department, none)}
    if values:
        for business, wall in session.execute(
                select(Wait.answer_seconds, Wait.answer_wall_seconds).where(*answered)):
            fig.first_response.append(timedelta(seconds=business or 0))
            fig.first_response_wall.append(timedelta(seconds=wall or 0))
    # Each answer's response time: from the oldest message of the period it answered.
    oldest = [*period, Wait.stopped_by.is_not(None), Wait.stopped_at < until,
              Wait.stopped_at <= now,
              or_(Wait.group_prev.is_(None), Wait.group_prev < since)]
    fig.agent_medians = {agent: q["median"] for agent, q in _quantiles(
        session, Wait.stop_seconds, Wait.stopped_by, oldest).items()}
    marks = [Milestone.department == department, Milestone.at >= since,
             Milestone.at < until, Milestone.at <= now]
    for kind, agent, n in session.execute(
            select(Milestone.kind, Milestone.agent, func.count()).where(*marks)
            .group_by(Milestone.kind, Milestone.agent)):
        if kind == "answer" and agent is not None:
            fig.answers[agent] += n
        elif kind == "close":
            hist.closed += n
        elif kind == "reopen":
            hist.reopened += n
    return fig


def load(session: Session, departments: list[str], since: datetime,
         until: datetime) -> dict[str, History]:
    """The counts the report takes as they are, per department (history.tallies)."""
    got = {d: History([], [], []) for d in departments}
    history.tallies(session, got, since, until)
    return got
