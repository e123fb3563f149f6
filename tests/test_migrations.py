"""Schema upgrades: the migrations build exactly the models' schema, and an upgrade of a
database with mail still queued sends that mail afterwards (nothing lost on upgrade)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert

from mailticket.search.engines import is_search_table
from mailticket.store.db import SCHEMA_HEAD, Database
from mailticket.store.models import Base, Message, OutboxItem
from tests.corpora import throwaway_app


@pytest.fixture
def url(db_url: str | None, tmp_path: Path) -> str:
    return db_url or f"sqlite:///{tmp_path}/m.db"


def test_migrations_build_the_models_schema(url):
    db = Database(url)
    db.upgrade()
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={
            "compare_type": True,
            "include_name": lambda name, kind, _parent: (
                kind != "table" or not is_search_table(name))})
        assert compare_metadata(ctx, Base.metadata) == []
    assert db.head_revision() == SCHEMA_HEAD, "name the new migration in db.SCHEMA_HEAD"
    assert not db.needs_upgrade()
    db.dispose()


def test_the_daemon_upgrades_in_a_child_and_never_loads_alembic(tmp_path):
    """What `mailticket run` does on its first start: the schema is built, and the
    daemon's process never imports Alembic (11 MB it would carry for ever)."""
    url = f"sqlite:///{tmp_path}/fresh.db"
    script = (
        "import sys\n"
        "from mailticket.store.db import Database\n"
        f"db = Database({url!r})\n"
        "assert db.needs_upgrade()\n"
        "db.upgrade_apart()\n"
        "assert not db.needs_upgrade()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    assert Database(url).current_revision() == SCHEMA_HEAD


def test_what_the_daemon_does_meanwhile_runs_while_the_child_upgrades(tmp_path):
    """`mailticket run` loads the pipeline's modules while its child builds the schema;
    whatever happens to that work, the child is waited for."""
    db = Database(f"sqlite:///{tmp_path}/fresh.db")
    done: list[bool] = []
    db.upgrade_apart(lambda: done.append(True))
    assert done == [True] and not db.needs_upgrade()

    def breaks() -> None:
        raise ValueError("a module that does not load")

    other = Database(f"sqlite:///{tmp_path}/other.db")
    with pytest.raises(ValueError, match="does not load"):
        other.upgrade_apart(breaks)
    assert other.current_revision() == SCHEMA_HEAD  # the child finished all the same
    db.dispose()
    other.dispose()


def test_a_failed_upgrade_apart_says_why(tmp_path):
    (tmp_path / "dir.db").mkdir()  # a directory where the database file should be
    with pytest.raises(RuntimeError, match="schema upgrade failed: .*unable to open"):
        Database(f"sqlite:///{tmp_path}/dir.db").upgrade_apart()


def test_mail_queued_before_an_upgrade_is_sent_after_it(tmp_path, url):
    old = Database(url)
    command.upgrade(old._alembic(), "0001")
    raw = (b"From: support@helpdesk.test\r\nTo: jane@customer.example\r\n"
           b"Subject: queued before the upgrade\r\nMessage-ID: <q@helpdesk.test>\r\n\r\nHi\r\n")
    now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    with old.engine.begin() as conn:  # what version 0001 wrote for one queued mail
        conn.execute(insert(Message.__table__).values(
            direction="out", kind="auto_response", message_id="<q@helpdesk.test>",
            references=[], from_addr="support@helpdesk.test", from_name="", to=[], cc=[],
            subject="queued", date=now, text="Hi", attachments=[], verdict="",
            source="outbox", raw=raw))
        conn.exec_driver_sql(
            "INSERT INTO outbox (kind, message_id, mail_from, rcpt_to, raw, created_at, "
            "attempts, next_attempt_at) VALUES ('auto_response', '<q@helpdesk.test>', "
            "'support@helpdesk.test', '[\"jane@customer.example\"]', "
            + ("X''" if url.startswith("sqlite") else "''::bytea")
            + ", '2026-11-23 09:00:00', 0, '2026-11-23 09:00:00')")
    old.dispose()

    app = throwaway_app(tmp_path / "app", url=url)  # upgrades to the head revision
    report = app.outbox.deliver()
    assert report.sent == 1
    sent = list((tmp_path / "app" / "sent" / "new").iterdir())
    assert len(sent) == 1 and sent[0].read_bytes().endswith(raw)  # after envelope lines
    with app.db.read() as s:
        assert s.get(OutboxItem, 1).sent_at is not None
    app.close()
