"""Fixtures: one real Dovecot and one SMTP relay for the session, and per test a
fresh "world" (own mail domain, own database, own config) on top of them.
"""

from __future__ import annotations

import gc
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from mailticket.app import App
from mailticket.clock import Clock
from mailticket.config import Config, parse_config
from mailticket.ingest.imap import ImapPoller
from tests.builders import PARIS_OFFICE, config_toml, department
from tests.builders import mail as mail
from tests.builders import reply as reply
from tests.mailservers import Dovecot, SmtpRelay

# mail and reply are imported from here by most tests; they live in tests/builders.py.


def pytest_configure(config: pytest.Config) -> None:
    """Each run gets its own temp root: pytest's shared numbered folders are pruned by
    whichever run starts next, which pulls the maildirs from under a running Dovecot."""
    if not config.option.basetemp:
        config.option.basetemp = tempfile.mkdtemp(prefix="mailticket-tests-")
        config._mailticket_basetemp = config.option.basetemp  # type: ignore[attr-defined]


def pytest_unconfigure(config: pytest.Config) -> None:
    base = getattr(config, "_mailticket_basetemp", None)
    if base and not getattr(config, "_mailticket_failed", False):
        shutil.rmtree(base, ignore_errors=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config._mailticket_failed = exitstatus != 0  # type: ignore[attr-defined]


PG_URL = os.environ.get("MAILTICKET_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
_counter = itertools.count(1)


@pytest.fixture(autouse=True)
def _collected_again() -> Iterator[None]:
    """A daemon started in this process froze its heap (``memory.settle``): the next
    tests' garbage is collected as usual."""
    yield
    if gc.get_freeze_count():
        gc.unfreeze()


@pytest.fixture(scope="session")
def dovecot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dovecot]:
    with Dovecot(tmp_path_factory.mktemp("dovecot")) as server:
        yield server


@pytest.fixture(scope="session")
def relay(dovecot: Dovecot) -> Iterator[SmtpRelay]:
    with SmtpRelay(dovecot, auth={"helpdesk": "relay-pw"}) as server:
        yield server


def _pg_available() -> bool:
    try:
        with create_engine(PG_URL).connect():
            return True
    except Exception:
        return False


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test; dropped afterwards."""
    if not _pg_available():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI and does not answer at {PG_URL}")
        pytest.skip(f"no PostgreSQL at {PG_URL}")
    name = f"mt_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_URL.rsplit("/", 1)[0] + "/" + name
    try:
        yield url
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str | None:
    """Runs a test on both databases: a fresh PostgreSQL one, or None for the test's own
    SQLite file (make_world and throwaway_app make one when given no URL)."""
    return request.getfixturevalue("pg_url") if request.param == "postgresql" else None


def parsed(raw: bytes) -> EmailMessage:
    return message_from_bytes(raw, policy=policy.default)  # type: ignore[return-value]


def body(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return part.get_content().replace("\r\n", "\n")


@dataclass
class World:
    """One helpdesk installation over the shared mail servers, with its own domain."""

    dovecot: Dovecot
    relay: SmtpRelay
    domain: str
    config_path: Path
    config: Config
    app: App

    def addr(self, local: str) -> str:
        return f"{local}@{self.domain}"

    def reconfigure(self, old: str, new: str) -> None:
        """Edit the config file (the daemon and CLI read it) and rebuild the in-process app."""
        text = self.config_path.read_text()
        assert old in text, old
        self.config_path.write_text(text.replace(old, new, 1))
        self.app.close()
        self.config = parse_config(self.config_path.read_text(), str(self.config_path))
        self.app = App(self.config, self.app.clock)

    def deliver(self, department: str, m: EmailMessage) -> None:
        """Put a mail into a department's IMAP INBOX, as the MTA would."""
        self.dovecot.append(self.addr(department), bytes(m))

    def send(self, m: EmailMessage) -> None:
        """Send a mail through the real SMTP relay (it lands in each recipient's INBOX)."""
        import smtplib

        with smtplib.SMTP(self.relay.host, self.relay.port) as s:
            s.login("helpdesk", "relay-pw")
            s.send_message(m)

    def poll(self) -> None:
        """One `poll --once`: every department's mailbox, then the whole outbox."""
        for d in self.config.departments:
            ImapPoller(self.app, d).poll_once()
        while True:
            report = self.app.outbox.deliver()
            assert report.down is None, report.down
            if not report.sent + report.deferred + report.failed:
                break

    def inbox(self, local: str) -> list[EmailMessage]:
        return [parsed(r) for r in self.dovecot.messages(self.addr(local))]

    def wait_inbox(self, local: str, count: int, timeout: float = 15.0) -> list[EmailMessage]:
        raws = self.dovecot.wait_for_messages(self.addr(local), count, timeout=timeout)
        return [parsed(r) for r in raws]


def world_config(dovecot: Dovecot, relay: SmtpRelay, domain: str, db_url: str,
                 extra: str = "", poll_interval: float = 0.3,
                 sla: str = 'response = "1 business day"') -> str:
    def imap(local: str) -> dict[str, object]:
        return {"host": "127.0.0.1", "port": dovecot.imap_port, "security": "none",
                "username": f"{local}@{domain}", "password": Dovecot.PASSWORD,
                "poll_interval": poll_interval, "timeout": 10}

    return config_toml(
        secret=f"test-secret-{domain}", instance="mailticket-test", database={"url": db_url},
        outgoing={"transport": "smtp", "host": "127.0.0.1", "port": relay.port,
                  "security": "none", "username": "helpdesk", "password": "relay-pw",
                  "interval": 0.3, "lease": 2},
        calendar=PARIS_OFFICE, sla=sla, extra=extra,
        departments=[
            department("support", domain, display_name="Example Support",
                       agents=["alice", "bob"], escalate_to=["lead"], imap=imap("support")),
            department("sales", domain, display_name="Example Sales", agents=["carol"],
                       imap=imap("sales"))])


@pytest.fixture
def make_world(dovecot: Dovecot, relay: SmtpRelay, tmp_path: Path):
    apps: list[App] = []

    def make(db_url: str | None = None, clock: Clock | None = None, extra: str = "",
             poll_interval: float = 0.3, sla: str = 'response = "1 business day"') -> World:
        domain = f"w{next(_counter)}-{uuid.uuid4().hex[:6]}.example"
        url = db_url or f"sqlite:///{tmp_path}/{domain}.db"
        text_ = world_config(dovecot, relay, domain, url, extra, poll_interval, sla)
        path = tmp_path / f"{domain}.toml"
        path.write_text(text_)
        config = parse_config(text_, str(path))
        app = App(config, clock)
        app.ensure_schema()
        apps.append(app)
        return World(dovecot, relay, domain, path, config, app)

    yield make
    for app in apps:
        app.close()


# -- the daemon as a separate process ---------------------------------------------

def start_daemon(world, log):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "mailticket", "--config", str(world.config_path), "run"],
        stdout=log, stderr=subprocess.STDOUT, env=env)


def stop_daemon(proc) -> float:
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0
    return time.monotonic() - t0


def cli_json(world, *args):
    out = subprocess.run([sys.executable, "-m", "mailticket", "--config",
                          str(world.config_path), *args, "--json"],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)
