"""Would stored tickets gain from being plain records too, as new ones are?

A follow-up changes a stored ticket (updated_at, state, its clock) and adds a message and a
participant to it.  Today the ticket is an ORM object: each attribute set goes through
SQLAlchemy's instrumentation, the thread grows by ``set_committed_value`` and the session's
flush writes the changed tickets.  The alternative: load the ticket's row as a record,
change it in place and write the changed columns with one executemany UPDATE.

Both are timed here, in this process, on a fresh SQLite file with N stored tickets (three
messages written by people and one participant each, loaded as the batch loads them), a
follow-up's changes applied to each, then written:

    python -m bench.stored_tickets [--tickets 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.attributes import set_committed_value

from mailticket.store.batch import WRITTEN_BY_PEOPLE
from mailticket.store.db import Database
from mailticket.store.models import Message, Participant, Ticket
from mailticket.store.records import NewMessage, NewParticipant, NewTicket

NOW = datetime(2026, 11, 23, 10, tzinfo=UTC)
CHANGED = ("updated_at", "state", "clock_started_at", "due_at", "warn_at", "next_notice_at",
           "escalation_level")


def _fill(db: Database, n: int) -> None:
    with db.transaction() as s:
        conn = s.connection()
        conn.execute(insert(Ticket), [dict(
            id=i, department="support", subject=f"Ticket {i}", customer=f"c{i}@x.example",
            customer_name="", state="pending", priority="normal", created_at=NOW,
            updated_at=NOW, escalation_level=0) for i in range(1, n + 1)])
        conn.execute(insert(Message), [dict(
            ticket_id=i, direction="in", kind="customer", message_id=f"<m{i}.{k}@x>",
            references=[], from_addr=f"c{i}@x.example", from_name="", to=[], cc=[],
            subject="s", date=NOW, text="hello " * 50, attachments=[], verdict="",
            source="bench", raw=b"x" * 4000) for i in range(1, n + 1) for k in range(3)])
        conn.execute(insert(Participant), [dict(
            ticket_id=i, address=f"c{i}@x.example", name="", role="customer",
            bouncing=False) for i in range(1, n + 1)])


def _follow_up(t: Any, i: int) -> dict[str, Any]:
    t.updated_at = NOW + timedelta(minutes=1)
    t.state = "open"
    if t.due_at is None:
        t.clock_started_at, t.due_at, t.warn_at = NOW, NOW + timedelta(days=1), NOW
        t.next_notice_at, t.escalation_level = NOW, 0
    return dict(direction="in", kind="customer", message_id=f"<f{i}@x>", references=[],
                from_addr=t.customer, from_name="", to=[], cc=[], subject="Re", date=NOW,
                text="more", attachments=[], verdict="", source="bench", raw=b"y")


def orm(db: Database) -> float:
    """As today: ORM tickets, threads extended without the session noticing, one flush."""
    with db.transaction() as s:
        tickets = s.scalars(select(Ticket).options(
            selectinload(Ticket.messages.and_(Message.kind.in_(WRITTEN_BY_PEOPLE))),
            selectinload(Ticket.participants))).all()
        start = time.perf_counter()
        for t in tickets:
            values = _follow_up(t, t.id)
            m = Message(**values, ticket_id=t.id)
            set_committed_value(t, "messages", [*t.messages, m])
            p = Participant(ticket_id=t.id, address=f"cc{t.id}@x.example", name="", role="cc",
                            bouncing=False)
            set_committed_value(t, "participants", [*t.participants, p])
        s.flush()
        took = time.perf_counter() - start
        s.rollback()
    return took


def records(db: Database) -> float:
    """Stored tickets as plain records: the changed columns written by one UPDATE."""
    with db.transaction() as s:
        conn = s.connection()
        rows = conn.execute(select(Ticket)).mappings().all()
        threads: dict[int, list[Any]] = {}
        for m in conn.execute(select(Message.ticket_id, Message.kind, Message.text).where(
                Message.kind.in_(WRITTEN_BY_PEOPLE))):
            threads.setdefault(m.ticket_id, []).append(m)
        start = time.perf_counter()
        tickets = [NewTicket(**row) for row in rows]
        for t in tickets:
            t.messages = list(threads.get(t.id, []))
            t.messages.append(NewMessage(**_follow_up(t, t.id), ticket_id=t.id))
            t.participants.append(NewParticipant(ticket_id=t.id, address=f"cc{t.id}@x.example",
                                                 name="", role="cc", bouncing=False))
        conn.execute(update(Ticket).where(Ticket.id == bindparam("tid")).values(
            {c: bindparam(c) for c in CHANGED}),
            [{"tid": t.id, **{c: getattr(t, c) for c in CHANGED}} for t in tickets])
        took = time.perf_counter() - start
        s.rollback()
    return took


def measure(n: int, rounds: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'stored.db'}")
        db.upgrade()
        _fill(db, n)
        best_orm = min(orm(db) for _ in range(rounds))
        best_rec = min(records(db) for _ in range(rounds))
        db.dispose()
    return {"tickets": n, "orm_us_per_ticket": round(best_orm / n * 1e6, 1),
            "records_us_per_ticket": round(best_rec / n * 1e6, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tickets", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    print(json.dumps(measure(args.tickets, args.rounds)))


if __name__ == "__main__":
    main()
