"""The two full-text engines, behind the same four calls: create, add, forget, match.

Both are fed the analyzer's terms, already stemmed and folded, so both rank the same
tokens and neither needs a stemmer of its own (PostgreSQL has no Bulgarian one).

SQLite: an FTS5 table without content (``content=''``): it keeps the inverted index and
the lengths bm25 needs, not a second copy of the text (``detail=column``, a smaller
index without positions, was tried: bm25 then scores every match 0).  The row id is
the message's.  PostgreSQL: a ``tsvector`` per message under a GIN index, the
subject weighted A and the text B, ranked by ``ts_rank``; the ``simple`` configuration
only lower-cases, which leaves our terms as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

#: The tables the models do not describe (``tests/test_migrations.py`` leaves them out).
TABLES = ("search_index", "search_docs")

# Subject terms count three times body terms in the ranking.
_SQLITE_WEIGHTS = "3.0, 1.0"


@dataclass(frozen=True)
class Doc:
    message: int          # messages.id
    subject: str          # stored tokens, space-separated
    body: str


def is_search_table(name: str | None) -> bool:
    return bool(name) and str(name).startswith(TABLES)


def create(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(
            "CREATE VIRTUAL TABLE IF NOT EXISTS search_index USING fts5(subject, body, "
            "content='', tokenize='unicode61 remove_diacritics 0')")
    else:
        conn.exec_driver_sql(
            "CREATE TABLE IF NOT EXISTS search_docs (message_id integer PRIMARY KEY "
            "REFERENCES messages (id) ON DELETE CASCADE, doc tsvector NOT NULL)")
        conn.exec_driver_sql(
            "CREATE INDEX IF NOT EXISTS search_docs_doc ON search_docs USING gin (doc)")


def drop(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("DROP TABLE IF EXISTS search_index")
    else:
        conn.exec_driver_sql("DROP TABLE IF EXISTS search_docs")


def add(conn: Connection, docs: Sequence[Doc]) -> None:
    if not docs:
        return
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(
            "INSERT INTO search_index (rowid, subject, body) VALUES (?, ?, ?)",
            [(d.message, d.subject, d.body) for d in docs])
    else:
        conn.exec_driver_sql(
            "INSERT INTO search_docs (message_id, doc) VALUES (%s, "
            "setweight(to_tsvector('simple', %s), 'A') || "
            "setweight(to_tsvector('simple', %s), 'B')) ON CONFLICT (message_id) DO NOTHING",
            [(d.message, d.subject, d.body) for d in docs])


def forget(conn: Connection, docs: Sequence[Doc]) -> None:
    """Take messages out of the index.  FTS5 without content must be handed the tokens
    it indexed: ``docs`` are the messages' documents as ``add`` was given them."""
    if not docs:
        return
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(
            "INSERT INTO search_index (search_index, rowid, subject, body) "
            "VALUES ('delete', ?, ?, ?)", [(d.message, d.subject, d.body) for d in docs])
    else:
        conn.exec_driver_sql("DELETE FROM search_docs WHERE message_id = %s",
                             [(d.message,) for d in docs])


def match(conn: Connection, groups: Sequence[Sequence[str]], window: int
          ) -> list[tuple[int, float]]:
    """(message id, score) of the latest ``window`` messages holding a token of every
    group, best first; a higher score is a better match on both engines.

    Ranking every match of a common word ("password" in one mail of twenty) costs time
    in proportion to the matches, 300 ms at a million messages; the latest ``window``
    are found from the index in descending row order and only those are ranked."""
    if not groups:
        return []
    if conn.dialect.name == "sqlite":
        query = " AND ".join(
            "(" + " OR ".join(f'"{token}"' for token in group) + ")" for group in groups)
        rows = conn.exec_driver_sql(
            f"SELECT rowid, bm25(search_index, {_SQLITE_WEIGHTS}) AS score "
            "FROM search_index WHERE search_index MATCH ? ORDER BY rowid DESC LIMIT ?",
            (query, window))
        ranked = [(int(mid), -float(score)) for mid, score in rows]
    else:
        query = " & ".join(
            "(" + " | ".join(token for token in group) + ")" for group in groups)
        rows = conn.exec_driver_sql(
            "SELECT message_id, ts_rank(doc, q) AS score FROM ("
            "SELECT message_id, doc, q FROM search_docs, to_tsquery('simple', %s) q "
            "WHERE doc @@ q ORDER BY message_id DESC LIMIT %s) latest",
            (query, window))
        ranked = [(int(mid), float(score)) for mid, score in rows]
    ranked.sort(key=lambda r: (-r[1], -r[0]))
    return ranked
