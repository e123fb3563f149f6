"""A database that already holds N tickets, for ingest at scale (``bench.backlog
--prefill N``).

Built once with the real schema (``mailticket db upgrade`` as a process) and then
filled in SQL (a recursive CTE on SQLite, ``generate_series`` on PostgreSQL), so a
million tickets take a minute or two, not the hours the pipeline would: per ticket one
customer mail (indexed for search, kept as the ticket's question), its participant,
a "created" and a "mail_sent" event, and its auto-response, sent, in the outbox.
Every fifth customer has a contact row.  The tickets are old (a year back) and
closed or answered, so nothing is due; the backlog's customers are other people.
Cached in a folder: a SQLite file copied per run, a PostgreSQL database used as a
template.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

_SQLITE = [
    # n: 1 … N, then each table from it.
    """CREATE TEMP TABLE n AS WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c
       WHERE i < :n) SELECT i FROM c""",
    """INSERT INTO tickets (id, department, subject, customer, customer_name, state, priority,
       language, created_at, updated_at, answered_at, escalation_level)
       SELECT i, CASE WHEN i % 3 THEN 'support' ELSE 'sales' END,
       'Old question number ' || i, 'customer' || (i % 300000) || '@old.example', 'Old Customer',
       CASE WHEN i % 10 THEN 'closed' ELSE 'open' END, 'normal', 'en',
       datetime('2025-12-01', '+' || (i % 31536000) || ' seconds'),
       datetime('2025-12-01', '+' || (i % 31536000 + 3600) || ' seconds'),
       datetime('2025-12-01', '+' || (i % 31536000 + 3600) || ' seconds'), 0 FROM n""",
    """INSERT INTO messages (id, ticket_id, direction, kind, message_id, fingerprint,
       "references", from_addr, from_name, "to", cc, subject, date, text, attachments,
       language, verdict, source, raw)
       SELECT i, i, 'in', 'customer', '<old-' || i || '@old.example>', NULL, '[]',
       'customer' || (i % 300000) || '@old.example', 'Old Customer', '["support@old.example"]',
       '[]', 'Old question number ' || i, datetime('2025-12-01', '+' || (i % 31536000) ||
       ' seconds'), 'My order ' || i || ' has not arrived yet, could you look into it?',
       '[]', 'en', 'customer: prefilled', 'prefill', CAST('Subject: Old question' AS BLOB)
       FROM n""",
    """INSERT INTO participants (ticket_id, address, name, role, bouncing)
       SELECT i, 'customer' || (i % 300000) || '@old.example', 'Old Customer', 'customer', 0
       FROM n""",
    """INSERT INTO contacts (address, language, updated_at)
       SELECT 'customer' || i || '@old.example', 'en', '2025-12-01 00:00:00.000000'
       FROM n WHERE i < 300000 AND i % 5 = 0""",
    """INSERT INTO events (ticket_id, at, kind, actor, detail)
       SELECT i, datetime('2025-12-01', '+' || (i % 31536000) || ' seconds'), 'created',
       'customer' || (i % 300000) || '@old.example', '{"language": "en"}' FROM n""",
    """INSERT INTO events (ticket_id, at, kind, actor, detail)
       SELECT i, datetime('2025-12-01', '+' || (i % 31536000 + 60) || ' seconds'), 'mail_sent',
       'system', '{"kind": "auto_response"}' FROM n""",
    """INSERT INTO outbox (ticket_id, kind, message_id, mail_from, rcpt_to, created_at,
       attempts, next_attempt_at, sent_at)
       SELECT i, 'auto_response', '<old-ack-' || i || '@old.example>', 'support@old.example',
       '["customer' || (i % 300000) || '@old.example"]', '2025-12-01 00:00:00.000000', 1,
       '2025-12-01 00:00:00.000000',
       strftime('%Y-%m-%d %H:%M:%f000', '2025-12-01', '+' || (i % 31536000 + 60) || ' seconds')
       FROM n""",
    """INSERT INTO search_index (rowid, subject, body)
       SELECT i, 'old question number', 'my order has not arrived yet could you look into it'
       FROM n""",
    """INSERT INTO questions (ticket_id, department, language, at, terms)
       SELECT i, CASE WHEN i % 3 THEN 'support' ELSE 'sales' END, 'en',
       datetime('2025-12-01', '+' || (i % 31536000) || ' seconds'), 'order arrive look'
       FROM n""",
]

_PG = [
    """INSERT INTO tickets (id, department, subject, customer, customer_name, state, priority,
       language, created_at, updated_at, answered_at, escalation_level)
       SELECT i, CASE WHEN i % 3 <> 0 THEN 'support' ELSE 'sales' END,
       'Old question number ' || i, 'customer' || (i % 300000) || '@old.example', 'Old Customer',
       CASE WHEN i % 10 <> 0 THEN 'closed' ELSE 'open' END, 'normal', 'en',
       timestamp '2025-12-01' + (i % 31536000) * interval '1 second',
       timestamp '2025-12-01' + (i % 31536000 + 3600) * interval '1 second',
       timestamp '2025-12-01' + (i % 31536000 + 3600) * interval '1 second', 0
       FROM generate_series(1, :n) i""",
    """INSERT INTO messages (id, ticket_id, direction, kind, message_id, fingerprint,
       "references", from_addr, from_name, "to", cc, subject, date, text, attachments,
       language, verdict, source, raw)
       SELECT i, i, 'in', 'customer', '<old-' || i || '@old.example>', NULL, '[]',
       'customer' || (i % 300000) || '@old.example', 'Old Customer', '["support@old.example"]',
       '[]', 'Old question number ' || i,
       timestamp '2025-12-01' + (i % 31536000) * interval '1 second',
       'My order ' || i || ' has not arrived yet, could you look into it?', '[]', 'en',
       'customer: prefilled', 'prefill', convert_to('Subject: Old question', 'UTF8')
       FROM generate_series(1, :n) i""",
    """INSERT INTO participants (ticket_id, address, name, role, bouncing)
       SELECT i, 'customer' || (i % 300000) || '@old.example', 'Old Customer', 'customer', false
       FROM generate_series(1, :n) i""",
    """INSERT INTO contacts (address, language, updated_at)
       SELECT 'customer' || i || '@old.example', 'en', timestamp '2025-12-01'
       FROM generate_series(5, LEAST(:n, 299999), 5) i""",
    """INSERT INTO events (ticket_id, at, kind, actor, detail)
       SELECT i, timestamp '2025-12-01' + (i % 31536000) * interval '1 second', 'created',
       'customer' || (i % 300000) || '@old.example', '{"language": "en"}'
       FROM generate_series(1, :n) i""",
    """INSERT INTO events (ticket_id, at, kind, actor, detail)
       SELECT i, timestamp '2025-12-01' + (i % 31536000 + 60) * interval '1 second',
       'mail_sent', 'system', '{"kind": "auto_response"}' FROM generate_series(1, :n) i""",
    """INSERT INTO outbox (ticket_id, kind, message_id, mail_from, rcpt_to, created_at,
       attempts, next_attempt_at, sent_at)
       SELECT i, 'auto_response', '<old-ack-' || i || '@old.example>', 'support@old.example',
       ('["customer' || (i % 300000) || '@old.example"]')::json, timestamp '2025-12-01', 1,
       timestamp '2025-12-01', timestamp '2025-12-01' + (i % 31536000 + 60) * interval '1 second'
       FROM generate_series(1, :n) i""",
    """INSERT INTO search_docs (message_id, doc)
       SELECT i, to_tsvector('simple', 'old question number my order has not arrived yet')
       FROM generate_series(1, :n) i""",
    """INSERT INTO questions (ticket_id, department, language, at, terms)
       SELECT i, CASE WHEN i % 3 <> 0 THEN 'support' ELSE 'sales' END, 'en',
       timestamp '2025-12-01' + (i % 31536000) * interval '1 second', 'order arrive look'
       FROM generate_series(1, :n) i""",
    # The sequences go on after the prefilled ids.
    "SELECT setval(pg_get_serial_sequence('tickets', 'id'), :n)",
    "SELECT setval(pg_get_serial_sequence('messages', 'id'), :n)",
    "ANALYZE",
]


def _upgrade(url: str) -> None:
    """The schema, by ``mailticket db upgrade`` as a user runs it."""
    config = Path(f"/tmp/mailticket-prefill-{abs(hash(url))}.toml")
    config.write_text(f'[database]\nurl = "{url}"\n[[departments]]\nname = "support"\n'
                      f'address = "support@old.example"\n')
    try:
        subprocess.run([sys.executable, "-m", "mailticket", "--config", str(config), "db",
                        "upgrade"], check=True, cwd=ROOT, capture_output=True)
    finally:
        config.unlink()


def _fill(url: str, statements: list[str], n: int) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as c:
            for sql in statements:
                c.execute(text(sql), {"n": n} if ":n" in sql else {})
    finally:
        engine.dispose()


def sqlite_file(folder: Path, n: int) -> Path:
    """The cached SQLite database of ``n`` tickets (built when missing)."""
    path = folder / f"prefill-{n}.db"
    if path.exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    building = path.with_suffix(".building")
    building.unlink(missing_ok=True)
    t0 = time.perf_counter()
    url = f"sqlite:///{building}"
    _upgrade(url)
    _fill(url, _SQLITE, n)
    engine = create_engine(url)
    with engine.connect() as c:
        c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")  # no ANALYZE: mailticket runs none
    engine.dispose()
    for suffix in ("-wal", "-shm"):
        Path(f"{building}{suffix}").unlink(missing_ok=True)
    building.rename(path)
    print(f"prefilled {n:,} tickets into {path} in {time.perf_counter() - t0:.0f} s",
          flush=True)
    return path


def sqlite_copy(folder: Path, n: int, target: Path) -> None:
    shutil.copyfile(sqlite_file(folder, n), target)


def pg_template(n: int) -> str:
    """The name of the PostgreSQL database of ``n`` tickets (built when missing)."""
    name = f"mailticket_prefill_{n}"
    admin = create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        if c.scalar(text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": name}):
            admin.dispose()
            return name
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}_building"'))
        c.execute(text(f'CREATE DATABASE "{name}_building"'))
    t0 = time.perf_counter()
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}_building"
    _upgrade(url)
    _fill(url, _PG, n)
    with admin.connect() as c:
        c.execute(text(f'ALTER DATABASE "{name}_building" RENAME TO "{name}"'))
    admin.dispose()
    print(f"prefilled {n:,} tickets into PostgreSQL {name} in "
          f"{time.perf_counter() - t0:.0f} s", flush=True)
    return name
