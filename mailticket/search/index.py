"""What goes into the search index, and when: the customers' and agents' mails, in the
transaction that stores them.

``index_messages`` is called once per batch, after the batch's messages are written,
with their Message-IDs: it reads back the rows it indexes (their numbers are given by
the database) and the ticket's language, and adds them in the same transaction, so a
rolled-back mail leaves nothing in the index.  A ticket's first customer mail is also
kept as its question (``questions``: distinct terms), what ``faq candidates`` clusters.
``rebuild`` indexes every stored mail (``db upgrade`` to revision 0007, or after a
change of the analyzer).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any

from sqlalchemy import Connection, bindparam, delete, select

from mailticket.mail.subject import base_subject
from mailticket.search import engines
from mailticket.search.analyzer import MAX_TEXT, body_terms, mail_terms, terms
from mailticket.store import sealing

# The models are imported where rows are read or written: ``mailticket search`` needs
# only ``query_tokens`` and the engines, not the ORM.

#: The mails people wrote to each other; auto-responses and notifications are ours.
INDEXED_KINDS = ("customer", "agent")
_CHUNK = 500
MAX_QUESTION = 30  # distinct terms kept of a question: the question is near the top


def stored_token(term: str) -> str:
    """The token the engines store for a term: the term itself, or its keyed hash when
    the store is encrypted at rest (the index then holds no word)."""
    return sealing.token(term) if sealing.hashing() else term


def _joined(found: Iterable[str]) -> str:
    """Terms as the engines store them, space-separated: the terms themselves unless
    the store is encrypted (a call per term of a mail costs more than its join)."""
    return " ".join(map(sealing.token, found)) if sealing.hashing() else " ".join(found)


def tokens(text: str, language: str | None) -> str:
    """``text`` as the engines index it: its stored tokens, space-separated."""
    return _joined(terms(text[:MAX_TEXT], language))


def query_tokens(groups: Iterable[Iterable[str]]) -> list[list[str]]:
    return [sorted({stored_token(t) for t in group}) for group in groups]


def document(message_id: int, subject: str, text: str, language: str | None) -> engines.Doc:
    """A message as the engines index it; its subject without "Re:" and our tag (a
    search for "support" must not find every answer to "[Support #12]")."""
    return engines.Doc(message_id, tokens(base_subject(subject), language),
                       _joined(body_terms(text, language)))


def _columns() -> Any:
    from mailticket.store.models import Message, Ticket

    return (select(Message.id, Message.subject, Message.text, Message.language,
                   Ticket.language, Message.kind, Ticket.id, Ticket.department,
                   Ticket.created_at)
            .join(Ticket, Ticket.id == Message.ticket_id)
            .where(Message.kind.in_(INDEXED_KINDS), Message.direction == "in"))


def _docs(rows: Iterable[Any]) -> list[engines.Doc]:
    return [document(r[0], r[1] or "", r[2] or "", r[3] or r[4]) for r in rows]


def _add(conn: Connection, rows: Sequence[Any]) -> None:
    """Index these rows (of ``_columns``), and keep each ticket's first customer mail
    as its question (a later one finds the ticket's row taken)."""
    engines.add(conn, _docs(rows))
    questions = [{"ticket_id": r[6], "department": r[7], "language": r[3] or r[4],
                  "at": r[8], "terms": question_terms(r[1] or "", r[2] or "", r[3] or r[4])}
                 for r in rows if r[5] == "customer"]
    if questions:
        from mailticket.store.models import Question
        from mailticket.store.records import insert_rows

        insert_rows(conn, Question.__table__, questions,  # type: ignore[arg-type]
                    unless_taken="ticket_id")


def question_terms(subject: str, text: str, language: str | None) -> str:
    """A question's distinct stored tokens, first seen first, at most ``MAX_QUESTION``."""
    seen = dict.fromkeys(mail_terms(subject, text, language))
    return _joined(list(seen)[:MAX_QUESTION])


def index_messages(conn: Connection, message_ids: Iterable[str]) -> int:
    """Index the stored mails of these Message-IDs that people wrote; the others are
    left out.  Returns how many were indexed."""

    ids = list(dict.fromkeys(i for i in message_ids if i))
    done = 0
    for i in range(0, len(ids), _CHUNK):
        rows = list(conn.execute(_by_message_id(), {"ids": ids[i:i + _CHUNK]}))
        _add(conn, rows)
        done += len(rows)
    return done


@cache
def _by_message_id() -> Any:
    """``_columns`` of the mails with these Message-IDs: built once, not per batch."""
    from mailticket.store.models import Message

    return (_columns().where(Message.message_id.in_(bindparam("ids", expanding=True)))
            .order_by(Message.id))


def index_batch(conn: Connection, rows: Sequence[object]) -> int:
    """``index_messages`` for a batch's message rows (records, ORM objects or dicts)."""
    ids: list[str] = []
    for row in rows:
        values = row if isinstance(row, dict) else row.__dict__
        if values.get("kind") in INDEXED_KINDS and values.get("direction") == "in":
            ids.append(values["message_id"])
    return index_messages(conn, ids) if ids else 0


def forget_messages(conn: Connection, ids: Sequence[int]) -> None:
    """Take stored mails out of the index, before their text is changed or erased."""
    from mailticket.store.models import Message

    for i in range(0, len(ids), _CHUNK):
        engines.forget(conn, _docs(conn.execute(_columns().where(
            Message.id.in_(ids[i:i + _CHUNK])))))


def rebuild(conn: Connection, chunk: int = 2000) -> int:
    """Drop the index and index every stored mail people wrote, in order."""
    from mailticket.store.models import Message, Question

    engines.drop(conn)
    engines.create(conn)
    conn.execute(delete(Question))
    done, last = 0, 0
    while True:
        rows = list(conn.execute(_columns().where(Message.id > last)
                                 .order_by(Message.id).limit(chunk)))
        if not rows:
            return done
        _add(conn, rows)
        done += len(rows)
        last = rows[-1][0]
