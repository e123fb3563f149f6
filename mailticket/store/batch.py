"""What one ingest transaction has already looked up, so a batch of mails costs a few
queries instead of a dozen per mail.

Reads are remembered here, and the mails of a batch are processed without flushing
(``Pipeline.process_parsed``): what an earlier mail of the batch wrote is found in this
memo (Message-IDs, threads, tickets, contacts, auto-response counts) or through the
tickets' relationships, which show pending rows.  Rows that nothing reads back before
the commit (queued mail, events) are held and written at the end, many per statement.
The memo lives exactly as long as the transaction (or savepoint) it was made in:
after a rollback it is thrown away with what it remembered.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session, selectinload

from mailticket.store.models import Base, Contact, Event, Message, OutboxItem, Ticket

ROWS = "mailticket.rows"  # Session.info key of the rows a batch writes at its end


def held_rows(session: Session) -> dict[type[Base], list[dict[str, Any]]] | None:
    """Where rows nobody reads back during the batch (queued mail, events) wait to be
    written many per statement; None outside a batch: write them as usual."""
    return session.info.get(ROWS)


_CHUNK = 500  # bound parameters per IN (...), well below every backend's limit


def _chunks(values: Iterable[Any]) -> Iterable[list[Any]]:
    items = list(dict.fromkeys(v for v in values if v))
    for i in range(0, len(items), _CHUNK):
        yield items[i:i + _CHUNK]


def bounded_references(ids: Iterable[str]) -> list[str]:
    """A hostile mail may list tens of thousands of references: the first and last 50."""
    ids = list(dict.fromkeys(ids))
    return ids if len(ids) <= 100 else ids[:50] + ids[-50:]


class Batch:
    """Also the threading rules' view of the database (``mail.threading.Lookups``)."""

    def __init__(self, session: Session, *, message_ids: Iterable[str] = (),
                 senders: Iterable[str] = (), references: Iterable[str] = (),
                 now: datetime | None = None) -> None:
        self.s = session
        conn = session.connection()  # no autoflush: nothing of this batch is pending yet
        # Message-ID -> ticket, for the ids the batch's mails refer to, and for the mails
        # the batch stores as it goes (a reply may follow its original in one batch).
        self.ticket_of: dict[str, int] = {}
        self._refs_asked = set(references)
        for ids in _chunks(self._refs_asked):
            rows = conn.execute(select(Message.message_id, Message.ticket_id).where(
                Message.message_id.in_(ids), Message.ticket_id.is_not(None)))
            self.ticket_of.update((mid, int(tid)) for mid, tid in rows)
        self.tickets: dict[int, Ticket] = {}  # opened in this batch
        # The tickets those references lead to, with their threads and participants:
        # three queries for the batch instead of three per follow-up.  Kept referenced
        # here, as the session only holds unchanged objects weakly.
        self._threads = [
            t for chunk in _chunks(set(self.ticket_of.values()))
            for t in session.scalars(select(Ticket).where(Ticket.id.in_(chunk)).options(
                selectinload(Ticket.messages), selectinload(Ticket.participants)))]
        # Message-ID -> fingerprint of what is stored (None for mail we sent).
        self.stored: dict[str, str | None] = {}
        for ids in _chunks(message_ids):
            rows = conn.execute(select(Message.message_id, Message.fingerprint)
                                .where(Message.message_id.in_(ids)))
            self.stored.update((mid, fp) for mid, fp in rows)
        self._asked = set(message_ids)
        addresses = [a for a in senders if a and len(a) <= 320]
        self.contacts: dict[str, Contact | None] = dict.fromkeys(addresses)
        for chunk in _chunks(addresses):
            for c in session.scalars(select(Contact).where(Contact.address.in_(chunk))):
                self.contacts[c.address] = c
        # Auto-responses each sender got in the last 24 hours (the per-sender limit).
        self.auto_responses: dict[str, int] = dict.fromkeys(addresses, 0)
        if now is not None:
            for chunk in _chunks(addresses):
                rows = conn.execute(
                    select(Ticket.customer, func.count())
                    .select_from(Message).join(Ticket)
                    .where(Message.kind == "auto_response", Ticket.customer.in_(chunk),
                           Message.date >= now - timedelta(days=1))
                    .group_by(Ticket.customer))
                self.auto_responses.update((who, int(n)) for who, n in rows)
        self._next_id: int | None = None
        self.rows: dict[type[Base], list[dict[str, Any]]] = {
            Message: [], OutboxItem: [], Event: []}
        session.info[ROWS] = self.rows

    def write(self) -> None:
        """Insert the held rows (tickets they name are flushed first by the session)."""
        for model, rows in self.rows.items():
            if rows:
                self.s.execute(insert(model), rows)
                rows.clear()
        self.close()

    def close(self) -> None:
        """From here on the session writes rows as they come again."""
        if self.s.info.get(ROWS) is self.rows:
            del self.s.info[ROWS]

    # -- Message-IDs ----------------------------------------------------------------
    def lookup(self, message_id: str) -> tuple[bool, str | None]:
        """(stored?, its fingerprint) — from the memo when the batch asked for it."""
        if message_id in self.stored:
            return True, self.stored[message_id]
        if message_id in self._asked:
            return False, None
        row = self.s.execute(select(Message.fingerprint)
                             .where(Message.message_id == message_id)).first()
        return (True, row[0]) if row is not None else (False, None)

    def remember(self, message_id: str, fingerprint: str | None) -> None:
        self.stored[message_id] = fingerprint

    # -- threading ------------------------------------------------------------------
    def ticket_for_message_ids(self, ids: Iterable[str]) -> int | None:
        """The ticket of the first of these Message-IDs that we stored or sent."""
        ids = bounded_references(ids)
        if not self._refs_asked.issuperset(ids):
            rows = self.s.execute(select(Message.message_id, Message.ticket_id).where(
                Message.message_id.in_(ids), Message.ticket_id.is_not(None)))
            self.ticket_of.update((mid, int(tid)) for mid, tid in rows)
        for i in ids:
            if i in self.ticket_of:
                return self.ticket_of[i]
        return None

    def stored_in(self, message_id: str, ticket_id: int) -> None:
        self.ticket_of[message_id] = ticket_id

    def opened(self, ticket: Ticket) -> None:
        self.tickets[ticket.id] = ticket

    def ticket(self, ticket_id: int) -> Ticket | None:
        """A ticket by number: one this batch opened is not written yet, so it is kept here."""
        found = self.tickets.get(ticket_id)
        return self.s.get(Ticket, ticket_id) if found is None else found

    def ticket_exists(self, ticket_id: int) -> bool:
        return self.ticket(ticket_id) is not None

    def is_participant(self, ticket_id: int, address: str) -> bool:
        ticket = self.ticket(ticket_id)
        return ticket is not None and any(
            p.address == address.lower() for p in ticket.participants)

    # -- contacts ---------------------------------------------------------------------
    def contact(self, address: str) -> Contact | None:
        if address not in self.contacts:
            self.contacts[address] = self.s.get(Contact, address)
        return self.contacts[address]

    def add_contact(self, contact: Contact) -> None:
        self.s.add(contact)
        self.contacts[contact.address] = contact

    # -- auto-responses ---------------------------------------------------------------
    def auto_responses_today(self, address: str, now: datetime) -> int:
        if address not in self.auto_responses:
            self.auto_responses[address] = int(self.s.scalar(
                select(func.count()).select_from(Message).join(Ticket)
                .where(Message.kind == "auto_response", Ticket.customer == address,
                       Message.date >= now - timedelta(days=1))) or 0)
        return self.auto_responses[address]

    def count_auto_response(self, address: str) -> None:
        self.auto_responses[address] = self.auto_responses.get(address, 0) + 1

    # -- ticket numbers ---------------------------------------------------------------
    def new_ticket_id(self) -> int:
        """The next ticket number, known before the row is written, so the mails it
        causes are composed without flushing the session once per ticket.

        SQLite: one writer at a time (BEGIN IMMEDIATE), so the highest number plus
        one is free until we commit.  Other databases: the column's own sequence.
        """
        conn = self.s.connection()
        if conn.dialect.name != "sqlite":
            return int(conn.execute(
                text("SELECT nextval(pg_get_serial_sequence('tickets', 'id'))")).scalar_one())
        if self._next_id is None:
            self._next_id = int(conn.execute(select(func.max(Ticket.id))).scalar() or 0) + 1
        else:
            self._next_id += 1
        return self._next_id
