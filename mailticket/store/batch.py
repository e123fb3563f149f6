"""What one ingest transaction has already looked up, so a batch of mails costs a few
queries instead of a dozen per mail.

Reads are remembered here, and the mails of a batch are processed without flushing
(``Pipeline.process_prepared``): what an earlier mail of the batch wrote is found in this
memo (Message-IDs, threads, tickets, contacts, auto-response counts) or through the
tickets' relationships, to which the batch adds what it creates.

The batch is also the unit of work of what it creates: new tickets, participants,
messages and contacts are plain objects the session never sees, and queued mail and
events are dicts; ``write`` inserts each table's rows with one statement.  (The
session's own unit of work costs ~0.1 ms per object, several times the insert.)  What
the batch changes on tickets and contacts that were already stored goes through the
session as usual.  The memo lives exactly as long as the transaction (or savepoint)
it was made in: after a rollback it is thrown away with what it remembered.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select, text
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from mailticket.search.index import index_batch
from mailticket.store.models import Contact, Event, Message, OutboxItem, Participant, Ticket
from mailticket.store.records import (
    AnyTicket,
    Columns,
    NewContact,
    NewMessage,
    NewParticipant,
    NewTicket,
    Record,
    insert_rows,
)

KEY = "mailticket.batch"  # Session.info key of the batch that writes at its end


def current_batch(session: Session) -> Batch | None:
    """The batch this session's rows wait in; None outside a batch: write them as usual."""
    return session.info.get(KEY)


def record(session: Session, ticket_id: int | None, kind: str, at: datetime,
           actor: str = "system", **detail: object) -> None:
    """An event on a ticket's history, written in the order things happened."""
    row = dict(ticket_id=ticket_id, at=at, kind=kind, actor=actor, detail=detail)
    batch = current_batch(session)
    if batch is None:
        session.add(Event(**row))
    else:
        batch.events.append(row)




# The kinds of mail a batch reads back from a ticket's thread.
WRITTEN_BY_PEOPLE = ("customer", "agent", "note")

# What processing reads of those: a notification's history, the mail an answer replies to.
_THREAD_COLUMNS = (Message.ticket_id, Message.direction, Message.kind, Message.message_id,
                   Message.references, Message.from_addr, Message.from_name, Message.date,
                   Message.text)

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
        # The batch's instant: its mails are received, and their clocks start, at once.
        self.now = now
        conn = session.connection()  # no autoflush: nothing of this batch is pending yet
        # Message-ID -> ticket, for the ids the batch's mails refer to, and for the mails
        # the batch stores as it goes (a reply may follow its original in one batch).
        self.ticket_of: dict[str, int] = {}
        self._refs_asked = set(references)
        for ids in _chunks(self._refs_asked):
            rows = conn.execute(select(Message.message_id, Message.ticket_id).where(
                Message.message_id.in_(ids), Message.ticket_id.is_not(None)))
            self.ticket_of.update((mid, int(tid)) for mid, tid in rows)
        self.tickets: dict[int, NewTicket] = {}  # opened in this batch
        # The tickets those references lead to, with their threads and participants:
        # three queries for the batch instead of three per follow-up.  Kept referenced
        # here, as the session only holds unchanged objects weakly.  Of the thread, only
        # what people wrote: what processing reads (a notification's history, the last
        # customer mail); the mails we sent, with their long texts, are most of it.
        self._threads = [
            t for chunk in _chunks(set(self.ticket_of.values()))
            for t in session.scalars(select(Ticket).where(Ticket.id.in_(chunk)).options(
                selectinload(Ticket.messages.and_(Message.kind.in_(WRITTEN_BY_PEOPLE)))
                .load_only(*_THREAD_COLUMNS),
                selectinload(Ticket.participants)))]
        # Message-ID -> fingerprint of what is stored (None for mail we sent).
        self.stored: dict[str, str | None] = {}
        for ids in _chunks(message_ids):
            rows = conn.execute(select(Message.message_id, Message.fingerprint)
                                .where(Message.message_id.in_(ids)))
            self.stored.update((mid, fp) for mid, fp in rows)
        self._asked = set(message_ids)
        addresses = [a for a in senders if a and len(a) <= 320]
        self.contacts: dict[str, Contact | NewContact | None] = dict.fromkeys(addresses)
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
        # What this batch creates, in order, written by ``write``.
        self._new_contacts: list[NewContact] = []
        self._participants: list[NewParticipant | Participant] = []
        self.messages: list[NewMessage | Message | dict[str, Any]] = []
        self.outbox: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        session.info[KEY] = self

    def write(self) -> None:
        """Insert what the batch created: tickets first, then what the session holds
        (changes to stored tickets, events added one by one), then the rest."""
        conn = self.s.connection()
        if self.tickets:
            _insert(conn, NewTicket.columns, self.tickets.values())
        self.s.flush()
        _insert(conn, NewContact.columns, self._new_contacts)
        _insert(conn, NewParticipant.columns, self._participants)
        _insert(conn, NewMessage.columns, self.messages)
        index_batch(conn, self.messages)  # searchable in the mail's own transaction
        for table, rows in ((OutboxItem.__table__, self.outbox), (Event.__table__, self.events)):
            if rows:
                insert_rows(conn, table, rows)
        self.close()

    def close(self) -> None:
        """From here on the session writes rows as they come again."""
        if self.s.info.get(KEY) is self:
            del self.s.info[KEY]
        self.tickets.clear()
        self._new_contacts.clear()
        self._participants.clear()
        self.messages.clear()
        self.outbox.clear()
        self.events.clear()

    # -- what the batch creates -------------------------------------------------------
    def add_message(self, ticket: AnyTicket | None, values: dict[str, Any]
                    ) -> NewMessage | Message:
        """A mail in or out that joins its ticket's thread at once (a notification later
        in the batch shows it).  A stored ticket's thread holds ORM objects only."""
        cls = Message if isinstance(ticket, Ticket) else NewMessage
        message = cls(**values, ticket_id=ticket.id if ticket is not None else None)
        if ticket is not None:
            _append(ticket, "messages", message)
        self.messages.append(message)
        return message

    def write_message(self, values: dict[str, Any]) -> None:
        """A mail nothing in the batch reads back (queued mail): only written."""
        self.messages.append(values)

    def add_participant(self, ticket: AnyTicket, **values: Any) -> None:
        cls = Participant if isinstance(ticket, Ticket) else NewParticipant
        participant = cls(**values, ticket_id=ticket.id)
        self._participants.append(participant)
        _append(ticket, "participants", participant)

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

    def opened(self, ticket: NewTicket) -> None:
        """A new ticket: kept here, out of the session, until ``write``."""
        self.tickets[ticket.id] = ticket

    def ticket(self, ticket_id: int) -> AnyTicket | None:
        """A ticket by number: one this batch opened is not written yet, so it is kept here."""
        found = self.tickets.get(ticket_id)
        if found is not None:
            return found
        stored = self.s.get(Ticket, ticket_id)
        if stored is not None:
            # Held here: the session holds unchanged objects weakly, and what the batch
            # added to this ticket's thread lives only in the object.
            self._threads.append(stored)
        return stored

    def ticket_exists(self, ticket_id: int) -> bool:
        return self.ticket(ticket_id) is not None

    def is_participant(self, ticket_id: int, address: str) -> bool:
        ticket = self.ticket(ticket_id)
        return ticket is not None and any(
            p.address == address.lower() for p in ticket.participants)

    # -- contacts ---------------------------------------------------------------------
    def contact(self, address: str) -> Contact | NewContact | None:
        if address not in self.contacts:
            self.contacts[address] = self.s.get(Contact, address)
        return self.contacts[address]

    def add_contact(self, contact: NewContact) -> None:
        self._new_contacts.append(contact)
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


def _insert(conn: Connection, columns: Columns, rows: Iterable[object]) -> None:
    params = [columns.row(r) for r in rows]
    if params:
        insert_rows(conn, columns.table, params)


def _append(ticket: AnyTicket, key: str, record: Record | Message | Participant) -> None:
    """Add to a ticket's thread or participants.  A stored ticket's collection is
    replaced without the session noticing: it must not try to write the row itself."""
    if isinstance(ticket, NewTicket):
        getattr(ticket, key).append(record)
    else:
        set_committed_value(ticket, key, [*getattr(ticket, key), record])
