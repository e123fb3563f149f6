"""What one ingest transaction has already looked up, so a batch of mails costs a few
queries instead of a dozen per mail.

Reads are remembered here, and the mails of a batch are processed without flushing
(``Pipeline.process_prepared``): what an earlier mail of the batch created is found in
this memo (Message-IDs, threads, tickets, contacts, auto-response counts) or through the
tickets' relationships.  What the batch creates is held apart, in ``store.writes.Writes``;
the pipeline tells this memo of each new ticket and contact as it makes them.  The memo
lives exactly as long as the transaction (or savepoint) it was made in: after a rollback
it is thrown away with what it remembered.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session, selectinload

from mailticket.store.models import Contact, Event, Message, Ticket
from mailticket.store.records import AnyTicket, NewContact, NewTicket

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


def _tickets_of(db: Connection | Session, ids: list[str]) -> Iterator[tuple[str, int]]:
    """(Message-ID, ticket) of those of ``ids`` that are stored on a ticket."""
    rows = db.execute(select(Message.message_id, Message.ticket_id).where(
        Message.message_id.in_(ids), Message.ticket_id.is_not(None)))
    return ((mid, tid) for mid, tid in rows if tid is not None)


class BatchReads:
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
            self.ticket_of.update(_tickets_of(conn, ids))
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
            known = conn.execute(select(Message.message_id, Message.fingerprint)
                                 .where(Message.message_id.in_(ids)))
            self.stored.update((mid, fp) for mid, fp in known)
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
                counts = conn.execute(
                    select(Ticket.customer, func.count())
                    .select_from(Message).join(Ticket)
                    .where(Message.kind == "auto_response", Ticket.customer.in_(chunk),
                           Message.date >= now - timedelta(days=1))
                    .group_by(Ticket.customer))
                self.auto_responses.update((who, int(n)) for who, n in counts)
        self._new_tickets: dict[int, NewTicket] = {}  # opened in this batch
        # Ticket -> the FAQ entries its auto-response suggested, as stored when the batch
        # began (the batch's own events are written at its end).
        self._suggested: dict[int, list[int]] = {}

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
            self.ticket_of.update(_tickets_of(self.s, ids))
        for i in ids:
            if i in self.ticket_of:
                return self.ticket_of[i]
        return None

    def stored_in(self, message_id: str, ticket_id: int) -> None:
        self.ticket_of[message_id] = ticket_id

    def opened(self, ticket: NewTicket) -> None:
        """A ticket the batch opened (``Writes`` holds it until it is written)."""
        self._new_tickets[ticket.id] = ticket

    def ticket(self, ticket_id: int) -> AnyTicket | None:
        """A ticket by number: one this batch opened is not written yet, so it is kept here."""
        found = self._new_tickets.get(ticket_id)
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

    # -- FAQ ----------------------------------------------------------------------------
    def suggested(self, ticket_id: int) -> list[int]:
        """The entries this ticket's auto-response suggested (``faq.replies.suggested``),
        asked at once for every ticket of the batch not asked yet: one query a batch,
        not one per follow-up (a twelfth of the writer's time)."""
        if ticket_id not in self._suggested:
            ids = {ticket_id, *(t.id for t in self._threads), *self._new_tickets}
            ids.difference_update(self._suggested)
            found: dict[int, list[int]] = {i: [] for i in ids}
            for chunk in _chunks(sorted(ids)):
                rows = self.s.execute(select(Event.ticket_id, Event.detail).where(
                    Event.ticket_id.in_(chunk), Event.kind == "faq_suggested")
                    .order_by(Event.id))
                for tid, detail in rows:
                    found[tid].extend(detail.get("entries", []))
            self._suggested.update((i, list(dict.fromkeys(e)))
                                   for i, e in found.items())
        return self._suggested[ticket_id]

    # -- contacts ---------------------------------------------------------------------
    def contact(self, address: str) -> Contact | NewContact | None:
        if address not in self.contacts:
            self.contacts[address] = self.s.get(Contact, address)
        return self.contacts[address]

    def learned(self, contact: NewContact) -> None:
        """A contact the batch created (``Writes`` holds it until it is written)."""
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
