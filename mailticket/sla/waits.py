"""The ``waits`` and ``milestones`` tables: the events the report and staffing read,
kept as one row per customer message (with its promise and how its wait ended) and
one per answer, close and reopen, so that a year of a million tickets is aggregated in
SQL instead of replayed in Python (docs/reports.md, "How the figures are kept").

They are a projection of the events: ``follow`` extends them with the events of a
transaction, in that transaction (``Writes.write`` calls it), and ``rebuild`` makes
them again from all the events (``ensure_built``: after the migration that added them,
or when a run was killed before it finished).  Both play each ticket's events through
``Ledger``, so the two cannot differ.  The calendar arithmetic (the promise, business
seconds, the local hour) is done once, when the fact happens.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, delete, select, tuple_, update
from sqlalchemy.orm import Session

from mailticket.config import Config
from mailticket.sla.book import BUILT, Book, DepartmentTime
from mailticket.store.models import Event, Milestone, ReportDay, Setting, Ticket, Wait
from mailticket.store.records import insert_rows

ARRIVALS = ("created", "customer_message")  # a customer message that awaits an answer
KINDS = (*ARRIVALS, "answered", "state_changed", "language_changed")
COLUMNS = [c.key for c in Wait.__table__.columns if c.key != "id"]
CHUNK = 5000  # tickets per write when rebuilding


@dataclass(eq=False)
class Row:
    """A waits row being made or changed (``id`` None until written)."""

    ticket_id: int
    department: str
    first: bool
    language: str | None
    arrived_at: datetime
    day: str
    hour: int
    due_at: datetime
    stopped_at: datetime | None = None
    stopped_by: str | None = None
    answered: bool = False
    stop_seconds: float | None = None
    group_prev: datetime | None = None
    answered_at: datetime | None = None
    answer_seconds: float | None = None
    answer_wall_seconds: float | None = None
    id: int | None = None

    def values(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in COLUMNS}


@dataclass
class Ledger:
    """One ticket's waits still open (not stopped, or a first message not yet answered),
    played forward event by event.  ``changed`` collects rows to write."""

    ticket_id: int
    department: str
    language: str | None
    time: DepartmentTime
    open: list[Row] = field(default_factory=list)
    changed: dict[int, Row] = field(default_factory=dict)  # by id(row)
    milestones: list[dict[str, Any]] = field(default_factory=list)

    def arrival(self, at: datetime, first: bool) -> None:
        day, hour = self.time.local(at)
        row = Row(self.ticket_id, self.department, first, self.language, at, day, hour,
                  self.time.due(at))
        self.open.append(row)
        self.changed[id(row)] = row

    def stop(self, at: datetime, agent: str | None) -> None:
        """An answer (``agent``) or a close/#pending ends every open wait that arrived
        at or before it; the oldest of them is what the answer's response time is from."""
        still: list[Row] = []
        prev: datetime | None = None
        for row in self.open:
            done = False
            if row.stopped_at is None and row.arrived_at <= at:
                row.stopped_at, row.stopped_by, row.group_prev = at, agent, prev
                row.answered = agent is not None
                row.stop_seconds = self.time.business(row.arrived_at, at)
                prev = row.arrived_at
                self.changed[id(row)] = row
                done = not row.first
            if row.first and row.answered_at is None and agent is not None \
                    and row.arrived_at <= at:
                row.answered_at = at
                row.answer_seconds = self.time.business(row.arrived_at, at)
                row.answer_wall_seconds = (at - row.arrived_at).total_seconds()
                self.changed[id(row)] = row
            if row.first and row.stopped_at is not None and row.answered_at is not None:
                done = True
            if not done:
                still.append(row)
        self.open = still

    def mark(self, kind: str, at: datetime, agent: str | None = None) -> None:
        self.milestones.append({"ticket_id": self.ticket_id, "department": self.department,
                                "kind": kind, "at": at, "agent": agent})

    def play(self, kind: str, at: datetime, actor: str, detail: dict[str, Any] | None) -> None:
        if kind in ARRIVALS:
            self.arrival(at, kind == "created")
        elif kind == "answered":
            self.stop(at, actor)
            self.mark("answer", at, actor)
        elif kind == "state_changed":
            new, old = (detail or {}).get("new"), (detail or {}).get("old")
            if new in ("closed", "pending"):
                self.stop(at, None)
            if new == "closed":
                self.mark("close", at)
            elif old == "closed" and new == "open":
                self.mark("reopen", at)


# What a later event changes on a stored row: how and when its wait ended.
_CHANGING = ("language", "stopped_at", "stopped_by", "answered", "stop_seconds",
             "group_prev", "answered_at", "answer_seconds", "answer_wall_seconds")
_UPDATE = update(Wait).where(Wait.id == bindparam("b_id")).values(
    {k: bindparam(f"b_{k}") for k in _CHANGING})


def forget_days(conn: Connection, days: Iterable[tuple[str, str]]) -> None:
    """Delete the report's stored (department, day) sums (report/days.py) whose waits
    a write changes: the report then sums those days from the waits again."""
    keys = sorted(set(days))
    for i in range(0, len(keys), 400):
        conn.execute(delete(ReportDay).where(
            tuple_(ReportDay.department, ReportDay.day).in_(keys[i:i + 400])))


def _write(conn: Connection, ledgers: Iterable[Ledger]) -> set[tuple[str, str]]:
    """Write what the ledgers changed; the (department, day) of every wait written."""
    new: list[dict[str, Any]] = []
    old: list[dict[str, Any]] = []
    marks: list[dict[str, Any]] = []
    touched: set[tuple[str, str]] = set()
    for ledger in ledgers:
        for row in ledger.changed.values():
            touched.add((row.department, row.day))
            (new if row.id is None else old).append(
                row.values() if row.id is None else {"id": row.id, **row.values()})
        marks += ledger.milestones
    if new:
        insert_rows(conn, Wait.__table__, new)  # type: ignore[arg-type]
    if old:
        conn.execute(_UPDATE, [{f"b_{k}": v for k, v in row.items()} for row in old])
    if marks:
        insert_rows(conn, Milestone.__table__, marks)  # type: ignore[arg-type]
    return touched


def follow(conn: Connection, events: Sequence[dict[str, Any]], book: Book) -> None:
    """The waits and milestones the events of one transaction make or change, written
    in it (after the events and the tickets they name)."""
    mine = [e for e in events if e["kind"] in KINDS and e["ticket_id"] is not None]
    if not mine:
        return
    ids = sorted({e["ticket_id"] for e in mine})
    ledgers: dict[int, Ledger] = {}
    stops = {e["ticket_id"] for e in mine if e["kind"] not in ARRIVALS}
    for tid, dept, lang in conn.execute(
            select(Ticket.id, Ticket.department, Ticket.language).where(Ticket.id.in_(ids))):
        time = book.of(dept)
        if time is not None:
            ledgers[tid] = Ledger(tid, dept, lang, time)
    if stops:
        waiting = conn.execute(select(Wait).where(
            Wait.ticket_id.in_(sorted(stops & set(ledgers))),
            Wait.stopped_at.is_(None) | (Wait.first.is_(True) & Wait.answered_at.is_(None)))
            .order_by(Wait.id)).mappings()
        for m in waiting:
            ledgers[m["ticket_id"]].open.append(Row(**{k: m[k] for k in (*COLUMNS, "id")}))
    relabelled: dict[int, str | None] = {}
    for e in mine:
        found = ledgers.get(e["ticket_id"])
        if found is None:
            continue
        if e["kind"] == "language_changed":
            relabelled[found.ticket_id] = found.language
        else:
            found.play(e["kind"], e["at"], e["actor"], e["detail"])
    touched = _write(conn, ledgers.values())
    if relabelled:
        # The report shows each message under its ticket's language now.
        conn.execute(update(Wait).where(Wait.ticket_id == bindparam("b_ticket")).values(
            language=bindparam("b_language")),
            [{"b_ticket": t, "b_language": lang} for t, lang in relabelled.items()])
        touched.update(conn.execute(select(Wait.department, Wait.day).where(
            Wait.ticket_id.in_(sorted(relabelled))).distinct()).all())
    if touched:
        forget_days(conn, touched)


def built(session: Session) -> bool:
    return session.get(Setting, BUILT) is not None


def rebuild(session: Session, config: Config) -> int:
    """Make the tables again from every event (one transaction: all or nothing); the
    number of waits written."""
    from mailticket.report.opentime import OpenTime

    conn = session.connection()
    session.execute(delete(Wait))
    session.execute(delete(Milestone))
    session.execute(delete(ReportDay))
    book = Book(config)
    first, last = session.execute(select(Event.at).order_by(Event.at).limit(1)).scalar(), \
        session.execute(select(Event.at).order_by(Event.at.desc()).limit(1)).scalar()
    if first is not None and last is not None:
        for d in config.departments:
            time = book.of(d.name)
            assert time is not None
            time.open_time = OpenTime(time.cal, first.astimezone(time.zone).date()
                                      - timedelta(days=2), last.astimezone(time.zone).date()
                                      + timedelta(days=400))
    rows = conn.execute(
        select(Event.ticket_id, Event.kind, Event.at, Event.actor, Event.detail,
               Ticket.department, Ticket.language)
        .join(Ticket, Ticket.id == Event.ticket_id)
        .where(Event.kind.in_(KINDS)).order_by(Event.ticket_id, Event.at, Event.id)
        .execution_options(yield_per=20_000))
    done: list[Ledger] = []
    ledger: Ledger | None = None
    skip = -1
    written = 0
    for tid, kind, at, actor, detail, dept, lang in rows:
        if ledger is None or tid != ledger.ticket_id:
            if tid == skip:
                continue
            if ledger is not None:
                done.append(ledger)
                if len(done) >= CHUNK:
                    written += sum(len(x.changed) for x in done)
                    _write(conn, done)
                    done = []
            time = book.of(dept)
            if time is None:
                ledger, skip = None, tid
                continue
            ledger = Ledger(tid, dept, lang, time)
        if kind != "language_changed":
            ledger.play(kind, at, actor, detail)
    if ledger is not None:
        done.append(ledger)
    written += sum(len(x.changed) for x in done)
    _write(conn, done)
    row = session.get(Setting, BUILT)
    if row is None:
        session.add(Setting(key=BUILT, value=date.today().isoformat()))
    return written


def ensure_built(db: Any, config: Config) -> None:
    """Build the tables when they are not (yet) built: the first start after the
    migration that added them.  Cheap otherwise: one read of a settings row."""
    with db.read() as s:
        if built(s):
            return
    with db.transaction() as s:
        if not built(s):
            rebuild(s, config)
