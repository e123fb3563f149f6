"""Erase a person (``forget``) or a set of tickets (``erase_tickets``, for retention), then
scrub the database files so that no byte of what was erased stays on disk.

SQLite: ``secure_delete`` zeroes every freed cell and page as the transaction writes,
a TRUNCATE checkpoint copies the zeroed pages into the main file and empties the WAL,
and VACUUM gives the space back once enough is free.  PostgreSQL: the rows are
updated or deleted; dead row versions, WAL archives and backups are the admin's to
handle (docs/deploy.md).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailticket.config import Config
from mailticket.customers.erasers import ERASERS, Scope, chunks
from mailticket.customers.redact import Replacer, is_pseudonym, new_pseudonym
from mailticket.store.db import Database
from mailticket.store.models import Event, Message, Participant, Ticket

log = logging.getLogger("mailticket.customers")

#: VACUUM (a rewrite of the whole file) only when this share of it is free: the
#: freed pages are zeroes already, so this is about disk space, not privacy.
VACUUM_FREE_SHARE = 0.2


def staff_addresses(config: Config) -> frozenset[str]:
    """Addresses that are the company's, never a customer's: kept by every erasure."""
    out = {d.address.lower() for d in config.departments}
    for d in config.departments:
        out |= {a.lower() for a in [*d.agents, *d.escalate_to]}
    return frozenset(out)


@dataclass
class Person:
    address: str
    names: set[str]
    tickets: list[int]   # theirs: they are the customer
    shared: list[int]    # someone else's, where they were Cc'd or wrote


def find_person(s: Session, address: str) -> Person:
    address = address.strip().lower()
    own = list(s.execute(select(Ticket.id, Ticket.customer_name)
                         .where(Ticket.customer == address)).all())
    parts = list(s.execute(select(Participant.ticket_id, Participant.name)
                           .where(Participant.address == address)).all())
    mine = {int(i) for i, _ in own}
    names = {n for _, n in own if n} | {n for _, n in parts if n}
    names |= {n for n in s.scalars(select(Message.from_name).where(
        Message.ticket_id.is_(None), Message.from_addr == address).distinct()) if n}
    return Person(address, names, sorted(mine),
                  sorted({int(t) for t, _ in parts} - mine))


def _secure_delete(s: Session) -> None:
    if s.get_bind().dialect.name == "sqlite":
        s.execute(select(1))  # the connection of this transaction
        s.connection().exec_driver_sql("PRAGMA secure_delete=ON")


def _run(s: Session, scope: Scope) -> dict[str, Any]:
    for _name, eraser in ERASERS:
        eraser(scope)
    return dict(scope.counts)


def forget(db: Database, config: Config, address: str, now: datetime) -> dict[str, Any]:
    """Erase ``address`` everywhere; the counts of what changed and the pseudonym."""
    started = time.monotonic()
    with db.transaction() as s:
        _secure_delete(s)
        person = find_person(s, address)
        pseudonym = new_pseudonym()
        scope = Scope(session=s, now=now, wiped=person.tickets, shared=person.shared,
                      replacer=Replacer({person.address: pseudonym}, person.names),
                      staff=staff_addresses(config), person=person.address)
        counts = _run(s, scope)
        # The audit trail says that someone was erased, never who.
        s.add(Event(ticket_id=None, at=now, kind="customer_forgotten", actor="admin",
                    detail={"pseudonym": pseudonym, "tickets": len(person.tickets),
                            "shared_tickets": len(person.shared)}))
    scrub(db)
    return {"pseudonym": pseudonym, "tickets": person.tickets, "shared": person.shared,
            "erased": counts, "seconds": round(time.monotonic() - started, 3)}


def erase_tickets(db: Database, config: Config, ticket_ids: Iterable[int], now: datetime,
                  reason: str) -> dict[str, Any]:
    """Empty whole tickets (retention): every address on them that is not the company's
    gets a pseudonym of its own."""
    ids = sorted(set(ticket_ids))
    staff = staff_addresses(config)
    with db.transaction() as s:
        _secure_delete(s)
        aliases: dict[str, str] = {}
        names: set[str] = set()
        for part in chunks(ids):
            for addr, name in s.execute(select(Participant.address, Participant.name)
                                        .where(Participant.ticket_id.in_(part))):
                if addr.lower() not in staff and not is_pseudonym(addr):
                    aliases.setdefault(addr.lower(), new_pseudonym())
                names |= {name} if name else set()
            for addr, name in s.execute(select(Ticket.customer, Ticket.customer_name)
                                        .where(Ticket.id.in_(part))):
                if addr and not is_pseudonym(addr):
                    aliases.setdefault(addr.lower(), new_pseudonym())
                names |= {name} if name else set()
        scope = Scope(session=s, now=now, wiped=ids, replacer=Replacer(aliases, names),
                      staff=staff)
        counts = _run(s, scope)
        for t in ids:
            s.add(Event(ticket_id=t, at=now, kind="content_erased", actor="system",
                        detail={"reason": reason}))
    if ids:
        scrub(db)
    return {"tickets": ids, "erased": counts}


def scrub(db: Database, attempts: int = 20) -> None:
    """After an erasure's commit: get the zeroed pages into the SQLite file and empty
    the WAL (waiting for readers of older snapshots, e.g. a running daemon)."""
    if db.engine.dialect.name != "sqlite":
        return
    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("PRAGMA secure_delete=ON")
        _checkpoint(cur, attempts)
        pages = cur.execute("PRAGMA page_count").fetchone()[0]
        free = cur.execute("PRAGMA freelist_count").fetchone()[0]
        if pages and free / pages >= VACUUM_FREE_SHARE:
            cur.execute("VACUUM")
            _checkpoint(cur, attempts)
        cur.close()
    finally:
        raw.close()


def _checkpoint(cur: Any, attempts: int) -> None:
    for _ in range(attempts):
        busy, _log, _done = cur.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if not busy:
            return
        time.sleep(0.1)
    log.warning("WAL not truncated: a reader kept an old snapshot; it is truncated at the "
                "next checkpoint")

