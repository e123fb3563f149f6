"""What one transaction creates, held until it is written together.

Everything that adds a row to a ticket's life (an ingest batch, a CLI command, the
escalator, the outbox marking mail sent) gets a ``Writes`` and passes it to whoever
acts: ``Writes.event`` is the one way to record an event, ``outgoing.outbox.enqueue``
the one way to queue mail.  ``write`` inserts each table's rows with one statement
(the session's own unit of work costs ~0.1 ms per object, several times the insert);
what is changed on rows already stored goes through the session as usual.

New tickets, participants, messages and contacts are plain records (``records.py``);
queued mail and events are dicts.  A held row lives exactly as long as the
transaction (or savepoint) it was made in: after a rollback ``close`` drops it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, bindparam, func, select, text, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from mailticket.search.index import index_batch
from mailticket.sla import waits
from mailticket.sla.book import INFO_KEY
from mailticket.store.models import Event, FaqEntry, Message, OutboxItem, Participant, Ticket
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


class Writes:
    """The rows a transaction creates, in order, inserted by ``write``."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.tickets: dict[int, NewTicket] = {}
        self._contacts: list[NewContact] = []
        self._participants: list[NewParticipant | Participant] = []
        self._messages: list[NewMessage | Message | dict[str, Any]] = []
        self._outbox: list[dict[str, Any]] = []
        self._events: list[dict[str, Any]] = []
        # (column, FAQ entry) -> how many more: "suggested" once per auto-response.
        self._faq_counts: dict[tuple[str, int], int] = {}
        self._next_id: int | None = None

    # -- what is recorded -------------------------------------------------------------
    def event(self, ticket_id: int | None, kind: str, at: datetime, /,
              actor: str = "system", **detail: object) -> None:
        """An event on a ticket's history, written in the order things happened."""
        self._events.append(dict(ticket_id=ticket_id, at=at, kind=kind, actor=actor,
                                 detail=detail))

    def queue(self, item: dict[str, Any]) -> None:
        """An outbox row (``outgoing.outbox.enqueue`` builds it)."""
        self._outbox.append(item)

    def count_faq(self, ids: Iterable[int], column: str) -> None:
        """One more ``suggested`` or ``solved`` for each of these FAQ entries, written
        with the rest: one statement a batch, not one per auto-response."""
        for i in ids:
            self._faq_counts[column, i] = self._faq_counts.get((column, i), 0) + 1

    # -- what is created ----------------------------------------------------------------
    def add_ticket(self, ticket: NewTicket) -> None:
        """A new ticket: kept here, out of the session, until ``write``."""
        self.tickets[ticket.id] = ticket

    def add_message(self, ticket: AnyTicket | None, values: dict[str, Any]
                    ) -> NewMessage | Message:
        """A mail in or out that joins its ticket's thread at once (a notification later
        in the batch shows it).  A stored ticket's thread holds ORM objects only."""
        cls = Message if isinstance(ticket, Ticket) else NewMessage
        message = cls(**values, ticket_id=ticket.id if ticket is not None else None)
        if ticket is not None:
            _append(ticket, "messages", message)
        self._messages.append(message)
        return message

    def write_message(self, values: dict[str, Any]) -> None:
        """A mail nothing in the transaction reads back (queued mail): only written."""
        self._messages.append(values)

    def add_participant(self, ticket: AnyTicket, **values: Any) -> None:
        cls = Participant if isinstance(ticket, Ticket) else NewParticipant
        participant = cls(**values, ticket_id=ticket.id)
        self._participants.append(participant)
        _append(ticket, "participants", participant)

    def add_contact(self, contact: NewContact) -> None:
        self._contacts.append(contact)

    def new_ticket_id(self) -> int:
        """The next ticket number, known before the row is written, so the mails it
        causes are composed without flushing the session once per ticket.

        SQLite: one writer at a time (BEGIN IMMEDIATE), so the highest number plus
        one is free until we commit.  Other databases: the column's own sequence.
        """
        conn = self.session.connection()
        if conn.dialect.name != "sqlite":
            return int(conn.execute(
                text("SELECT nextval(pg_get_serial_sequence('tickets', 'id'))")).scalar_one())
        if self._next_id is None:
            self._next_id = int(conn.execute(select(func.max(Ticket.id))).scalar() or 0) + 1
        else:
            self._next_id += 1
        return self._next_id

    # -- writing ------------------------------------------------------------------------
    def write(self) -> None:
        """Insert what was created: tickets first, then what the session holds (changes
        to stored tickets and contacts), then the rest."""
        conn = self.session.connection()
        _insert(conn, NewTicket.columns, self.tickets.values())
        self.session.flush()
        _insert(conn, NewContact.columns, self._contacts)
        _insert(conn, NewParticipant.columns, self._participants)
        _insert(conn, NewMessage.columns, self._messages)
        index_batch(conn, self._messages)  # searchable in the mail's own transaction
        for table, rows in ((OutboxItem.__table__, self._outbox),
                            (Event.__table__, self._events)):
            if rows:
                insert_rows(conn, table, rows)  # type: ignore[arg-type]
        if self._faq_counts:
            for column in ("suggested", "solved"):
                counts = [{"b_id": i, "b_n": n} for (c, i), n in self._faq_counts.items()
                          if c == column]
                if counts:
                    conn.execute(_FAQ_MORE[column], counts)
        book = self.session.info.get(INFO_KEY)
        if book is not None and self._events:  # the App's sessions carry one
            waits.follow(conn, self._events, book)
        self.close()

    def close(self) -> None:
        """Drop whatever is held (written, or rolled back)."""
        self.tickets.clear()
        self._next_id = None
        for rows in (self._contacts, self._participants, self._messages, self._outbox,
                     self._events):
            rows.clear()
        self._faq_counts.clear()


_FAQ: Table = FaqEntry.__table__  # type: ignore[assignment]
# ``count_faq``'s counts, by primary key, one executemany (updated_at stays: the text did
# not change).
_FAQ_MORE = {column: update(_FAQ).where(_FAQ.c.id == bindparam("b_id"))
             .values({column: _FAQ.c[column] + bindparam("b_n")})
             for column in ("suggested", "solved")}


@contextmanager
def writing(session: Session) -> Iterator[Writes]:
    """Writes for a one-off transaction (a CLI command, the escalator): written when the
    block ends without an error, dropped when it raises."""
    writes = Writes(session)
    try:
        yield writes
        writes.write()
    finally:
        writes.close()


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
