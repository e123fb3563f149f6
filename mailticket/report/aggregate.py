"""The report's figures summed in SQL from the ``waits`` and ``milestones`` tables
(sla/waits.py): a few grouped scans of one department's period, on SQLite and
PostgreSQL alike, instead of replaying its events in Python.  The same definitions
as ``figures.compute`` (docs/reports.md); tests/test_report_tables.py checks the two
give the same report."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
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


@dataclass
class Part:
    """Some of a department's waits summed, before the quantiles are picked: what a
    stored day holds (report/days.py), or what the waits of the rest of a period give."""

    cells: Counter[tuple[str, int]] = field(default_factory=Counter)  # (day, hour) → messages
    languages: Counter[str] = field(default_factory=Counter)
    tickets: int = 0
    outcomes: dict[str, Counter[str]] = field(default_factory=dict)  # day → outcome → n
    first: list[Any] = field(default_factory=list)     # arrays of business seconds
    wall: list[Any] = field(default_factory=list)      # arrays of wall-clock seconds
    agents: dict[str, list[Any]] = field(default_factory=dict)  # agent → arrays


def part(session: Session, department: str, *, lo: datetime, hi: datetime, since: datetime,
         until: datetime, now: datetime, zone: ZoneInfo, oldest: Any = None) -> Part:
    """The waits of ``department`` that arrived in [lo, hi), a stretch of the period
    [since, until) seen at ``now``.  ``oldest``: which answers count for the agents'
    response times (default: the oldest message of the period each answered)."""
    period = [Wait.department == department, Wait.arrived_at >= lo,
              Wait.arrived_at < hi, Wait.arrived_at <= now]
    got = Part()
    outcome = _outcome(now)
    days = [Wait.day >= lo.astimezone(zone).date().isoformat(),
            Wait.day <= hi.astimezone(zone).date().isoformat()]
    counted = [func.sum(case((outcome == code, 1), else_=0)) for code in _CODES]
    rows = session.connection().execute(  # Core rows: tens of thousands of groups a year
        select(Wait.day, Wait.hour, Wait.language, func.count(),
               func.sum(case((Wait.first == True, 1), else_=0)),  # noqa: E712
               *counted).where(*period, *days)
        .group_by(Wait.day, Wait.hour, Wait.language))
    for day, hour, language, n, first, *codes in rows:
        got.tickets += first
        got.cells[day, hour] += n
        got.languages[language or "unknown"] += n
        if any(codes):
            week = got.outcomes.setdefault(day, Counter())
            for code, m in zip(_CODES, codes, strict=True):
                if m:
                    week[_CODES[code]] += m
    answered = [*period, Wait.first == True, Wait.answered_at.is_not(None),  # noqa: E712
                Wait.answered_at <= now]
    business, wall = _values(session, [Wait.answer_seconds, Wait.answer_wall_seconds],
                             answered).get(None, [(), ()])
    got.first.append(business)
    got.wall.append(wall)
    if oldest is None:
        oldest = or_(Wait.group_prev.is_(None), Wait.group_prev < since)
    answers = [*period, Wait.stopped_by.is_not(None), Wait.stopped_at < until,
               Wait.stopped_at <= now, oldest]
    for agent, (v,) in _values(session, [Wait.stop_seconds], answers, Wait.stopped_by).items():
        got.agents.setdefault(agent, []).append(v)
    return got


def compute(session: Session, department: str, hist: History, *, since: datetime,
            until: datetime, now: datetime, zone: ZoneInfo, values: bool = False) -> Figures:
    """One department's figures: its finished days as stored (report/days.py), the rest
    of the period from the waits; ``values``: also every first response (the page's
    chart draws their distribution)."""
    import numpy as np

    from mailticket.report import days

    stored, stretches = days.split(session, department, since=since, until=until, now=now,
                                   zone=zone)
    parts = stored + [part(session, department, lo=lo, hi=hi, since=since, until=until,
                           now=now, zone=zone) for lo, hi in stretches]
    fig = Figures(department, hist, 0, 0)
    weeks: dict[str, tuple[int, str]] = {}  # local date → weekday, its week's Monday

    def week_of(day: str) -> tuple[int, str]:
        known = weeks.get(day)
        if known is None:
            local = date.fromisoformat(day)
            known = weeks[day] = (local.weekday(),
                                  (local - timedelta(days=local.weekday())).isoformat())
        return known

    first: list[Any] = []
    wall: list[Any] = []
    agents: dict[str, list[Any]] = {}
    for p in parts:
        fig.tickets += p.tickets
        fig.languages.update(p.languages)
        for (day, hour), n in p.cells.items():
            fig.customer_messages += n
            fig.by_hour[week_of(day)[0]][hour] += n
            fig.by_day[day] += n
        for day, counts in p.outcomes.items():
            fig.outcomes.update(counts)
            fig.weekly.setdefault(week_of(day)[1], Counter()).update(counts)
        first += p.first
        wall += p.wall
        for agent, arrays in p.agents.items():
            agents.setdefault(agent, []).extend(arrays)
    for monday in [w for w, c in fig.weekly.items() if not c]:
        del fig.weekly[monday]  # a week with no outcome yet, as the replay leaves it out
    business = np.concatenate(first) if first else np.empty(0)
    walls = np.concatenate(wall) if wall else np.empty(0)
    fig.quantiles = {"first_response": _quantiles(business),
                     "first_response_wall": _quantiles(walls)}
    if values:
        fig.first_response = [timedelta(seconds=float(v)) for v in business]
        fig.first_response_wall = [timedelta(seconds=float(v)) for v in walls]
    fig.agent_medians = {agent: _quantiles(np.concatenate(v))["median"]
                         for agent, v in agents.items()}
    marks = [Milestone.department == department,
             Milestone.kind.in_(("answer", "close", "reopen")), Milestone.at >= since,
             Milestone.at < until, Milestone.at <= now]
    for kind, by, n in session.execute(
            select(Milestone.kind, Milestone.agent, func.count()).where(*marks)
            .group_by(Milestone.kind, Milestone.agent)):
        if kind == "answer" and by is not None:
            fig.answers[by] += n
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
