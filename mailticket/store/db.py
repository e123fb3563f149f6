"""Engine, sessions and schema upgrades.

SQLite gets WAL and a busy timeout so the daemon's threads and a CLI run side by
side; PostgreSQL is used as it comes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from functools import cached_property, partial
from json.encoder import encode_basestring_ascii
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url

from mailticket.store.turns import Turns

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig
    from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).with_name("migrations")
# The newest migration's revision, known here so that a start on an up-to-date schema
# (every start but the first) never imports Alembic: 11 MB the daemon would carry for
# ever.  tests/test_migrations.py fails when a new migration is not named here.
SCHEMA_HEAD = "0013"


def json_text(value: Any) -> str:
    """``json.dumps``, with lists of strings (addresses, Message-IDs: most JSON values
    here) written directly: json.dumps builds an encoder per call, 3 µs each."""
    if type(value) is list and all(type(v) is str for v in value):
        return "[" + ", ".join(map(encode_basestring_ascii, value)) + "]"
    return json.dumps(value)


def make_engine(url: str, busy_timeout: float = 30.0) -> Engine:
    u = make_url(url)
    kwargs: dict[str, Any] = {"json_serializer": json_text}
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": busy_timeout, "check_same_thread": False}
    else:
        kwargs["pool_pre_ping"] = True
    engine = create_engine(u, **kwargs)
    if u.get_backend_name() == "sqlite":
        event.listen(engine, "connect", partial(_sqlite_pragmas, busy_ms=int(busy_timeout * 1000)))
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_pragmas(dbapi_conn: Any, _record: Any, busy_ms: int = 30000) -> None:
    # pysqlite's own transaction handling would defer BEGIN; we issue it ourselves.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={busy_ms}")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    # IMMEDIATE takes the write lock up front, so two writers queue on busy_timeout
    # instead of one failing with "database is locked" at its first write.  Reads
    # (``Database.read``) begin deferred and never wait for a writer under WAL.
    if conn.get_execution_options().get("mailticket_read"):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """The engine plus a session factory; one per process."""

    def __init__(self, url: str, busy_timeout: float = 30.0) -> None:
        self.url = url
        self.engine = make_engine(url, busy_timeout)
        # SQLite's one writer at a time, handed out in order among this process's threads.
        self.turns = Turns(busy_timeout) if self.engine.dialect.name == "sqlite" else None
        # What every writing session carries (``session.info``), set before the first one.
        self.session_info: dict[str, object] = {}

    # The ORM is imported with the first session: ``mailticket search`` reads with Core
    # on ``read_connection`` and never loads it.
    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        from sqlalchemy.orm import sessionmaker

        return sessionmaker(self.engine, expire_on_commit=False, info=self.session_info)

    @cached_property
    def read_sessions(self) -> sessionmaker[Session]:
        from sqlalchemy.orm import sessionmaker

        return sessionmaker(self.engine.execution_options(mailticket_read=True),
                            expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: commit on success, roll back on any exception."""
        with self.turns.turn() if self.turns else nullcontext(), self.sessions() as session, \
                session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only unit of work: it does not queue behind writers on SQLite."""
        with self.read_sessions() as session, session.begin():
            yield session

    @contextmanager
    def read_connection(self) -> Iterator[Connection]:
        """``read`` without the ORM: a Core connection in a read-only transaction."""
        with self.engine.execution_options(mailticket_read=True).connect() as conn, \
                conn.begin():
            yield conn

    def setting(self, key: str) -> str | None:
        """One row of ``settings``, read without the ORM."""
        with self.read_connection() as conn:
            return conn.execute(text("SELECT value FROM settings WHERE key = :key"),
                                {"key": key}).scalar()

    # -- schema -----------------------------------------------------------------
    def _alembic(self) -> AlembicConfig:
        from alembic.config import Config as AlembicConfig

        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        cfg.attributes["engine"] = self.engine
        return cfg

    def current_revision(self) -> str | None:
        """The revision Alembic recorded in the database; None for an empty one."""
        with self.engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()

    def head_revision(self) -> str | None:
        from alembic.script import ScriptDirectory

        return ScriptDirectory.from_config(self._alembic()).get_current_head()

    def needs_upgrade(self) -> bool:
        return self.current_revision() != SCHEMA_HEAD

    def upgrade(self) -> None:
        from alembic import command

        command.upgrade(self._alembic(), "head")

    def upgrade_apart(self, meanwhile: Callable[[], object] | None = None) -> None:
        """``upgrade`` in a child process, for the daemon: it never carries Alembic, even
        on its first start.  The URL goes over stdin, not into the process list.
        ``meanwhile`` runs here while the child works (the daemon loads its modules)."""
        child = subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        assert child.stdin is not None and child.stderr is not None
        try:
            child.stdin.write(self.url)
            child.stdin.close()
            if meanwhile is not None:
                meanwhile()
        finally:
            err = child.stderr.read()
            child.wait()
        if child.returncode:
            reason = (err.strip().splitlines() or [f"exit status {child.returncode}"])
            raise RuntimeError(f"schema upgrade failed: {reason[-1]}")

    def end_stalled_transactions(self, seconds: float) -> None:
        """On PostgreSQL, have the server end this process's transactions that sit idle
        this long (a frozen or vanished daemon): their row locks would otherwise stop
        the daemons that took its mailboxes over until TCP gives up, hours later.  The
        process finds its transaction gone and tries the batch again.  New connections
        get the setting; the ones already pooled are dropped."""
        if self.engine.dialect.name != "postgresql":
            return
        ms = max(1000, int(seconds * 1000))

        def on_connect(dbapi_conn: Any, _record: Any) -> None:
            with dbapi_conn.cursor() as cur:
                cur.execute(f"SET idle_in_transaction_session_timeout = {ms}")
            dbapi_conn.commit()

        event.listen(self.engine, "connect", on_connect)
        self.engine.dispose()

    def dispose(self) -> None:
        self.engine.dispose()


if __name__ == "__main__":  # Database.upgrade_apart's child: the reason on the last line
    try:
        Database(sys.stdin.read()).upgrade()
    except Exception as e:
        import traceback

        traceback.print_exc()
        sys.exit(f"{type(e).__name__}: {(str(e).splitlines() or [''])[0]}")
