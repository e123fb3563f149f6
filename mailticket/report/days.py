"""Finished days, summed once: what keeps a year's report as quick as a month's.

A department's day is finished when every wait that arrived on it was stopped or fell
due, and every first message answered was answered, before an instant (``settled_at``):
from then on no passing of time changes what the report counts for that day, only a
write to one of its waits, and every such write deletes the day's row
(``sla/waits.py``).  ``fill`` sums the finished days not yet stored (the daemon every
hour, ``mailticket import`` at its end, ``db upgrade``); ``split`` tells the report
which days of its period it can take as stored (whole days inside the period, stored,
settled before the period's end and before now) and which stretches it must sum from
the waits.  The sums are the same statements as the report's own (``aggregate.part``)
over one day, so a stored day and the waits cannot differ (tests/test_report_days.py).

An agent's response time counts from the oldest message of the period an answer ended.
For an answer that also ended a message of an earlier day, whether that message is in
the period depends on where the period starts: such waits are kept apart (``early``,
with the instant of that earlier message) and chosen when the period is known.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailticket.config import Config
from mailticket.report.aggregate import Part, part
from mailticket.store.models import ReportDay, Wait

_FAR = datetime(9999, 1, 1, tzinfo=UTC)
log = logging.getLogger(__name__)


def bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime] | None:
    """The first instant of ``day`` in ``zone`` and of the next, in UTC; None when a
    clock change at midnight makes local midnight not the day's first instant."""
    out = []
    for d in (day, day + timedelta(days=1)):
        at = datetime(d.year, d.month, d.day, tzinfo=zone).astimezone(UTC)
        if at.astimezone(zone).date() != d or \
                (at - timedelta(microseconds=1)).astimezone(zone).date() != d - timedelta(days=1):
            return None
        out.append(at)
    return out[0], out[1]


def _encode(p: Part, early: list[tuple[str, datetime, float]]) -> tuple[str, bytes]:
    import numpy as np

    arrays = [np.concatenate(p.first) if p.first else np.empty(0),
              np.concatenate(p.wall) if p.wall else np.empty(0)]
    agents = []
    for agent, values in sorted(p.agents.items()):
        arrays.append(np.concatenate(values))
        agents.append([agent, len(arrays[-1])])
    counts = {"hours": [[h, n] for (_, h), n in sorted(p.cells.items())],
              "languages": dict(p.languages), "tickets": p.tickets,
              "outcomes": {k: v for c in p.outcomes.values() for k, v in c.items()},
              "first": len(arrays[0]), "wall": len(arrays[1]), "agents": agents,
              "early": [[a, at.isoformat(), v] for a, at, v in early]}
    blob = b"".join(np.asarray(a, dtype="<f8").tobytes() for a in arrays)
    return json.dumps(counts, separators=(",", ":")), blob


def _decode(day: str, counts_text: str, blob: bytes, since: datetime) -> Part:
    import numpy as np


    c = json.loads(counts_text)
    values = np.frombuffer(blob, dtype="<f8")
    p = Part(cells=Counter({(day, h): n for h, n in c["hours"]}),
             languages=Counter(c["languages"]), tickets=c["tickets"],
             outcomes={day: Counter(c["outcomes"])} if c["outcomes"] else {})
    at = c["first"] + c["wall"]
    p.first.append(values[:c["first"]])
    p.wall.append(values[c["first"]:at])
    for agent, n in c["agents"]:
        p.agents.setdefault(agent, []).append(values[at:at + n])
        at += n
    for agent, prev, v in c["early"]:
        if datetime.fromisoformat(prev) < since:
            p.agents.setdefault(agent, []).append(np.array([v]))
    return p


def split(session: Session, department: str, *, since: datetime, until: datetime,
          now: datetime, zone: ZoneInfo) -> tuple[list[Part], list[tuple[datetime, datetime]]]:
    """The period's stored days, and the stretches of it to sum from the waits."""
    first = since.astimezone(zone).date()
    last = until.astimezone(zone).date()
    whole: dict[str, tuple[datetime, datetime]] = {}
    d = first
    while d <= last:
        b = bounds(d, zone)
        if b is not None and since <= b[0] and b[1] <= until:
            whole[d.isoformat()] = b
        d += timedelta(days=1)
    stored: dict[str, Part] = {}
    if whole:
        for day, settled_at, counts, blob in session.execute(
                select(ReportDay.day, ReportDay.settled_at, ReportDay.counts, ReportDay.samples)
                .where(ReportDay.department == department, ReportDay.day >= min(whole),
                       ReportDay.day <= max(whole))):
            if day in whole and settled_at < now and settled_at < until:
                stored[day] = _decode(day, counts, blob, since)
    stretches: list[tuple[datetime, datetime]] = []
    at = since
    for day in sorted(stored):
        lo, hi = whole[day]
        if at < lo:
            stretches.append((at, lo))
        at = hi
    if at < until:
        stretches.append((at, until))
    return list(stored.values()), stretches


def _settled_at(session: Session, department: str, days: Any) -> list[tuple[str, datetime]]:
    """Per day (of the ``days`` condition): the last instant at which one of its waits
    was stopped, answered or fell due unstopped."""
    out = []
    for day, stop, answer in session.execute(
            select(Wait.day, func.max(func.coalesce(Wait.stopped_at, Wait.due_at)),
                   func.max(Wait.answered_at))
            .where(Wait.department == department, days).group_by(Wait.day)):
        out.append((day, max(x for x in (stop, answer) if x is not None)))
    return out


def candidates(session: Session, config: Config, now: datetime) -> list[tuple[str, str]]:
    """The (department, day) pairs that are finished by ``now`` and not stored: after the
    last stored day, and the holes before it (a day a write let go, or not finished
    when the last fill ran)."""
    out = []
    for dept in config.departments:
        zone = ZoneInfo((dept.calendar or config.calendar).timezone)
        today = now.astimezone(zone).date().isoformat()
        have = set(session.scalars(select(ReportDay.day)
                                   .where(ReportDay.department == dept.name)))
        where: Any = Wait.day < today
        if have:
            latest = max(have)
            first = session.scalar(select(func.min(Wait.day))
                                   .where(Wait.department == dept.name)) or latest
            holes, d = [], date.fromisoformat(first)
            while d.isoformat() < latest:
                if d.isoformat() not in have:
                    holes.append(d.isoformat())
                d += timedelta(days=1)
            where = (Wait.day > latest) & (Wait.day < today)
            if holes:
                where = where | Wait.day.in_(holes)
        for day, at in _settled_at(session, dept.name, where):
            b = bounds(date.fromisoformat(day), zone)
            if day not in have and b is not None and at < now and b[1] <= now:
                out.append((dept.name, day))
    return out


def store(session: Session, config: Config, department: str, day: str, now: datetime) -> bool:
    """Sum one finished day and store it; False when it is stored already or is no
    longer finished (a write came since it was chosen).  One row, in the caller's
    transaction."""
    dept = config.department(department)
    zone = ZoneInfo((dept.calendar or config.calendar).timezone)
    b = bounds(date.fromisoformat(day), zone)
    settled = _settled_at(session, department, Wait.day == day)
    if b is None or not settled or session.get(ReportDay, (department, day)) is not None:
        return False
    at = settled[0][1]
    lo, hi = b
    if not (at < now and hi <= now):
        return False
    p = part(session, department, lo=lo, hi=hi, since=lo, until=_FAR, now=now, zone=zone,
             oldest=Wait.group_prev.is_(None))
    early = [(str(agent), prev, float(v)) for agent, prev, v in session.execute(
        select(Wait.stopped_by, Wait.group_prev, Wait.stop_seconds).where(
            Wait.department == department, Wait.arrived_at >= lo, Wait.arrived_at < hi,
            Wait.stopped_by.is_not(None), Wait.group_prev < lo))
        if prev is not None and v is not None]
    counts, blob = _encode(p, early)
    session.add(ReportDay(department=department, day=day, settled_at=at, counts=counts,
                          samples=blob))
    session.flush()
    return True


def fill(session: Session, config: Config, now: datetime) -> int:
    """Store every finished day not yet stored, in one transaction (tests, an import's
    end); the number stored."""
    return sum(store(session, config, dept, day, now)
               for dept, day in candidates(session, config, now))


def run(db: Any, config: Config, now: datetime) -> int:
    """The daemon's hourly fill: one short transaction per day, so that a first fill
    over a year of history never holds the writers back for long.  On PostgreSQL each
    is serializable: a write to one of the day's waits committed while it was summed
    makes it fail instead of storing a stale day (it is tried again next time)."""
    from sqlalchemy.exc import DBAPIError, IntegrityError

    with db.read() as s:
        todo = candidates(s, config, now)
    made = 0
    for dept, day in todo:
        try:
            with _serializable(db) as s:
                made += store(s, config, dept, day, now)
        except (IntegrityError, DBAPIError) as e:  # another daemon, or a write meanwhile
            log.info("report day %s %s not stored this time: %s", dept, day,
                     str(e).splitlines()[0])
    return made


@contextmanager
def _serializable(db: Any) -> Iterator[Session]:
    if db.engine.dialect.name != "postgresql":
        with db.transaction() as s:
            yield s
        return
    engine = db.engine.execution_options(isolation_level="SERIALIZABLE")
    with Session(engine) as s, s.begin():
        yield s
