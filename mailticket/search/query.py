"""``mailticket search``: the best tickets for a query, each with a snippet of the mail
that matched best.

The engine ranks messages; a ticket scores as its best message.  A query has no
language of its own (an agent may look for a Bulgarian ticket from an English
screen), so each of its words matches its terms in every language.  The engine is
asked for the best few hundred messages, then the department and state are applied
to their tickets; when those leave too few, it is asked for more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from mailticket.search import engines
from mailticket.search.analyzer import query_terms, term, words
from mailticket.search.index import query_tokens
from mailticket.store.models import Message, Ticket

SNIPPET_CHARS = 160
_FIRST_ASK = 200
_MOST_ASK = 100_000


@dataclass(frozen=True)
class Hit:
    ticket: int
    department: str
    subject: str
    score: float
    snippet: str


def search(conn: Connection, query: str, *, department: str | None = None,
           state: str | None = None, limit: int = 20) -> list[Hit]:
    groups = query_terms(query)
    tokens = query_tokens(groups)
    if not tokens:
        return []
    ask = max(_FIRST_ASK, limit * 10)
    while True:
        ranked = engines.match(conn, tokens, ask)
        best = _best_per_ticket(conn, ranked, department, state, limit)
        if len(best) >= limit or len(ranked) < ask or ask >= _MOST_ASK:
            break
        ask *= 8
    return [Hit(t.id, t.department, t.subject, round(score, 4),
                snippet(text, groups, language) or snippet(t.subject, groups, language))
            for (t, score, text, language) in best]


def _best_per_ticket(conn: Connection, ranked: Sequence[tuple[int, float]],
                     department: str | None, state: str | None, limit: int
                     ) -> list[tuple[Any, float, str, str | None]]:
    if not ranked:
        return []
    score_of = dict(ranked)
    q = (select(Message.id, Message.text, Ticket.id, Ticket.department, Ticket.subject,
                Ticket.language)
         .join(Ticket, Ticket.id == Message.ticket_id)
         .where(Message.id.in_(list(score_of))))
    if department is not None:
        q = q.where(Ticket.department == department)
    if state is not None:
        q = q.where(Ticket.state == state)
    best: dict[int, tuple[Any, float, str, str | None]] = {}
    for row in conn.execute(q):
        score = score_of[row[0]]
        if row[2] not in best or score > best[row[2]][1]:
            best[row[2]] = (_TicketRow(row[2], row[3], row[4]), score, row[1] or "", row[5])
    return sorted(best.values(), key=lambda b: (-b[1], -b[0].id))[:limit]


@dataclass(frozen=True)
class _TicketRow:
    id: int
    department: str
    subject: str


def snippet(text: str, groups: Sequence[Sequence[str]], language: str | None,
            width: int = SNIPPET_CHARS) -> str:
    """The part of ``text`` around its first word that matches the query, on one line,
    "…" where it was cut; "" when no word matches."""
    wanted = {t for group in groups for t in group}
    for start, end, word in words(text):
        if term(word, language) in wanted or term(word, None) in wanted:
            lo = max(0, start - width // 3)
            hi = min(len(text), max(end, lo + width))
            # Cut at spaces, not inside words.
            if lo > 0:
                space = text.find(" ", lo, start)
                lo = space + 1 if space != -1 else lo
            if hi < len(text):
                space = text.rfind(" ", end, hi)
                hi = space if space != -1 else hi
            part = " ".join(text[lo:hi].split())
            return ("…" if lo > 0 else "") + part + ("…" if hi < len(text) else "")
    return ""
