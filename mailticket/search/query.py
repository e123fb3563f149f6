"""``mailticket search``: the best tickets for a query, each with a snippet of the mail
that matched best.

The engine ranks messages; a ticket scores as its best message.  A query has no
language of its own (an agent may look for a Bulgarian ticket from an English
screen), so each of its words matches its terms in every language.  The engine ranks
the latest ``WINDOW`` matching messages (all of them, for any but the commonest
words), then the department and state are applied to their tickets; when those leave
too few, the window grows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from mailticket.search import engines
from mailticket.search.analyzer import query_terms, term, words
from mailticket.search.index import query_tokens
from mailticket.store.sealing import open_text

SNIPPET_CHARS = 160
WINDOW = 1000
_CHUNK = 200  # message numbers per IN (...), the best first
_MOST_WINDOW = 256_000


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
    window = max(WINDOW, limit * 20)
    while True:
        ranked = engines.match(conn, tokens, window)
        best = _best_per_ticket(conn, ranked, department, state, limit)
        if len(best) >= limit or len(ranked) < window or window >= _MOST_WINDOW:
            break
        window *= 8
    return [Hit(t.id, t.department, t.subject, round(score, 4),
                snippet(text, groups, language) or snippet(t.subject, groups, language))
            for (t, score, text, language) in best]


def _best_per_ticket(conn: Connection, ranked: Sequence[tuple[int, float]],
                     department: str | None, state: str | None, limit: int
                     ) -> list[tuple[Any, float, str, str | None]]:
    """The ``limit`` best tickets among the ranked messages, each with its best message's
    text; the texts of the others are not read."""
    if not ranked:
        return []
    score_of = dict(ranked)
    ids = list(score_of)  # best first: the first chunks usually hold the tickets wanted
    best: dict[int, tuple[int, float]] = {}     # ticket → (message, score)
    tickets: dict[int, tuple[_TicketRow, str | None]] = {}
    for i in range(0, len(ids), _CHUNK):
        if len(best) >= limit:
            break  # every later message scores lower than these tickets' best
        # Filtered here, not in SQL: given "department = ?" SQLite walks that
        # department's tickets instead of looking up these messages' (100 times slower).
        chunk = ids[i:i + _CHUNK]
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        rows = conn.exec_driver_sql(  # plain SQL: compiling 200 bound IN values costs more
            "SELECT m.id, t.id, t.department, t.subject, t.language, t.state "
            "FROM messages m JOIN tickets t ON t.id = m.ticket_id "
            f"WHERE m.id IN ({', '.join([mark] * len(chunk))})", tuple(chunk))
        for mid, tid, dept, subject, language, in_state in rows:
            if (department is not None and dept != department) or (
                    state is not None and in_state != state):
                continue
            score = score_of[mid]
            if tid not in best or score > best[tid][1]:
                best[tid] = (mid, score)
                tickets[tid] = (_TicketRow(tid, dept, subject), language)
    top = sorted(best.items(), key=lambda b: (-b[1][1], -b[0]))[:limit]
    wanted = tuple(mid for _, (mid, _) in top)
    texts: dict[int, str] = {mid: open_text(text or "") for mid, text in conn.exec_driver_sql(
        f"SELECT id, text FROM messages WHERE id IN ({', '.join([mark] * len(wanted))})",
        wanted)} if wanted else {}  # the snippet is cut from the text, opened if sealed
    return [(tickets[tid][0], score, texts.get(mid) or "", tickets[tid][1])
            for tid, (mid, score) in top]


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
