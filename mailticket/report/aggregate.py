"""The report's figures summed in SQL from the ``waits`` and ``milestones`` tables
(sla/waits.py): a few grouped scans of one department's period, on SQLite and
PostgreSQL alike, instead of replaying its events in Python.  The same definitions
as ``figures.compute`` (docs/reports.md); tests/test_report_tables.py checks the two
give the same report."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Text, and_, case, cast, func, literal, or_, select
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


def _values(session: Session, values: list[Any], where: list[Any], group: Any = None
            ) -> dict[Any, list[Any]]:
    """Every one of ``values`` of the rows, per ``group`` (None: all under the key None),
    as numpy arrays.  They leave the database as one text per group and column
    (``group_concat``, ``string_agg``): a million rows through the driver one by one
    cost seconds.  The values are whole microseconds in seconds (at most 14 significant
    digits), which SQLite's 15 digits and PostgreSQL's shortest form print exactly."""
    import numpy as np

    sqlite = session.get_bind().dialect.name == "sqlite"
    joined = [func.group_concat(v) if sqlite else func.string_agg(cast(v, Text), literal(","))
              for v in values]
    key = group if group is not None else literal(None)
    stmt = select(key, *joined).where(*where)
    if group is not None:
        stmt = stmt.group_by(group)
    return {k: [np.fromstring(t, sep=",") if t else np.empty(0) for t in texts]
            for k, *texts in session.execute(stmt)}


def _quantiles(values: Any) -> dict[str, float | None]:
    """Median and nearest-rank p90 (figures._quantiles) of a numpy array."""
    import numpy as np

    n = len(values)
    if not n:
        return {"median": None, "p90": None}
    lo, hi, p90 = (n - 1) // 2, n // 2, max(0, -(-n * 9 // 10) - 1)
    ranked = np.partition(np.asarray(values, dtype=float), sorted({lo, hi, p90}))
    median = float(ranked[hi]) if n % 2 else (float(ranked[lo]) + float(ranked[hi])) / 2
    return {"median": median, "p90": float(ranked[p90])}


def compute(session: Session, department: str, hist: History, *, since: datetime,
            until: datetime, now: datetime, zone: ZoneInfo, values: bool = False) -> Figures:
    """One department's figures; ``values``: also every first response (the page's
    chart draws their distribution)."""
    period = [Wait.department == department, Wait.arrived_at >= since,
              Wait.arrived_at < until, Wait.arrived_at <= now]
    fig = Figures(department, hist, 0, 0)
    outcome = _outcome(now)
    days = [Wait.day >= since.astimezone(zone).date().isoformat(),
            Wait.day <= until.astimezone(zone).date().isoformat()]
    counted = [func.sum(case((outcome == code, 1), else_=0)) for code in _CODES]
    weeks: dict[str, tuple[int, Counter[str]]] = {}  # local date → weekday, its week's
    for day, hour, language, n, first, *codes in session.execute(
            select(Wait.day, Wait.hour, Wait.language, func.count(),
                   func.sum(case((Wait.first == True, 1), else_=0)),  # noqa: E712
                   *counted).where(*period, *days)
            .group_by(Wait.day, Wait.hour, Wait.language)):
        known = weeks.get(day)
        if known is None:
            local = date.fromisoformat(day)
            monday = (local - timedelta(days=local.weekday())).isoformat()
            known = weeks[day] = (local.weekday(), fig.weekly.setdefault(monday, Counter()))
        weekday, week = known
        fig.customer_messages += n
        fig.tickets += first
        fig.by_hour[weekday][hour] += n
        fig.by_day[day] += n
        fig.languages[language or "unknown"] += n
        for code, m in zip(_CODES, codes, strict=True):
            if m:
                fig.outcomes[_CODES[code]] += m
                week[_CODES[code]] += m
    for monday in [w for w, c in fig.weekly.items() if not c]:
        del fig.weekly[monday]  # a week with no outcome yet, as the replay leaves it out
    answered = [*period, Wait.first == True, Wait.answered_at.is_not(None),  # noqa: E712
                Wait.answered_at <= now]
    business, wall = _values(session, [Wait.answer_seconds, Wait.answer_wall_seconds],
                             answered).get(None, [(), ()])
    fig.quantiles = {"first_response": _quantiles(business),
                     "first_response_wall": _quantiles(wall)}
    if values:
        fig.first_response = [timedelta(seconds=float(v)) for v in business]
        fig.first_response_wall = [timedelta(seconds=float(v)) for v in wall]
    # Each answer's response time: from the oldest message of the period it answered.
    oldest = [*period, Wait.stopped_by.is_not(None), Wait.stopped_at < until,
              Wait.stopped_at <= now,
              or_(Wait.group_prev.is_(None), Wait.group_prev < since)]
    fig.agent_medians = {agent: _quantiles(v)["median"] for agent, (v,) in _values(
        session, [Wait.stop_seconds], oldest, Wait.stopped_by).items()}
    marks = [Milestone.department == department,
             Milestone.kind.in_(("answer", "close", "reopen")), Milestone.at >= since,
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
