"""On SQLite the outbox keeps sending while the poller holds the write lock, never more
than SEND_AHEAD mails beyond what it recorded; the threads of one daemon take the lock
in turn; a claim stops at CLAIM_BYTES of raw mail."""

from __future__ import annotations

import socket
import threading
import time
from datetime import UTC, datetime

from aiosmtpd.controller import Controller
from sqlalchemy import func, select, text

from mailticket.clock import FixedClock
from mailticket.config import OutgoingConfig
from mailticket.outgoing import outbox as outbox_module
from mailticket.outgoing.compose import build
from mailticket.outgoing.outbox import SEND_AHEAD, Outbox, enqueue
from mailticket.outgoing.transport import SmtpTransport
from mailticket.store.db import Database
from mailticket.store.models import Event, OutboxItem
from mailticket.store.writes import writing

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


class Counting:
    def __init__(self) -> None:
        self.got: list[bytes] = []
        self.first = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        self.got.append(envelope.original_content)
        self.first.set()
        return "250 OK"


def _server(handler: object) -> Controller:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = Controller(handler, hostname="127.0.0.1", port=port)
    server.start()
    return server


def _queue(db: Database, n: int, text_: str = "Hello") -> None:
    with db.transaction() as s, writing(s) as ws:
        for i in range(n):
            out = build("auto_response", from_name="Support", from_addr="support@x.example",
                        to=[("", f"c{i}@y.example")], subject=f"Hi {i}", text=text_,
                        date=NOW, instance="t", auto_submitted="auto-replied")
            enqueue(ws, out, ticket=None, now=NOW)


def _recorded(db: Database) -> int:
    with db.read() as s:
        return int(s.scalar(select(func.count()).select_from(OutboxItem).where(
            OutboxItem.sent_at.is_not(None))) or 0)


def test_sending_goes_on_while_another_thread_holds_the_write_lock(tmp_path):
    handler = Counting()
    server = _server(handler)
    try:
        db = Database(f"sqlite:///{tmp_path}/o.db")
        db.upgrade()
        _queue(db, 3 * SEND_AHEAD)
        cfg = OutgoingConfig(host="127.0.0.1", port=server.port, security="none")
        outbox = Outbox(db, SmtpTransport(cfg), FixedClock(NOW))
        held = threading.Event()
        seen: dict[str, int] = {}

        def hold() -> None:  # the poller storing a batch: the one write lock, 1.5 s long
            handler.first.wait(10)
            with db.transaction() as s:
                s.execute(text("UPDATE settings SET value = value WHERE 0"))
                seen["recorded"] = _recorded(db)
                seen["handed"] = len(handler.got)
                held.set()
                time.sleep(1.5)
                seen["handed_meanwhile"] = len(handler.got) - seen["handed"]
                seen["recorded_meanwhile"] = _recorded(db) - seen["recorded"]
                seen["unrecorded"] = len(handler.got) - _recorded(db)

        holder = threading.Thread(target=hold)
        holder.start()
        report = outbox.deliver()
        holder.join()
        assert held.is_set()
        assert seen["handed_meanwhile"] > 0, seen  # it did not wait for the lock
        assert seen["recorded_meanwhile"] == 0, seen
        assert seen["unrecorded"] <= SEND_AHEAD, seen  # what a kill could send again
        assert seen["unrecorded"] > 10, seen  # more than the ten it stopped at before
        assert report.sent == 3 * SEND_AHEAD
        assert len(handler.got) == 3 * SEND_AHEAD  # each mail once
        assert _recorded(db) == 3 * SEND_AHEAD
        with db.read() as s:
            assert s.scalar(select(func.count()).select_from(Event).where(
                Event.kind == "mail_sent")) == 3 * SEND_AHEAD
        assert outbox.deliver().sent == 0
        db.dispose()
    finally:
        server.stop()


def test_a_thread_writing_back_to_back_lets_another_in_at_its_next_commit(tmp_path):
    db = Database(f"sqlite:///{tmp_path}/t.db")
    db.upgrade()
    stop = threading.Event()
    commits: list[float] = []

    def busy() -> None:  # a poller through a backlog: one transaction after another
        while not stop.is_set():
            with db.transaction() as s:
                s.execute(text("UPDATE settings SET value = value WHERE 0"))
                time.sleep(0.05)
            commits.append(time.monotonic())

    writer = threading.Thread(target=busy)
    writer.start()
    try:
        time.sleep(0.2)
        for _ in range(5):
            asked = time.monotonic()
            with db.transaction() as s:
                s.execute(text("UPDATE settings SET value = value WHERE 0"))  # locks
                got = time.monotonic()
            # Between asking and getting in, the busy thread committed once at most
            # (the transaction it was in); SQLite's own retries let it commit many.
            assert sum(asked < c < got for c in commits) <= 1, (asked, got, commits)
    finally:
        stop.set()
        writer.join()
        db.dispose()


def test_a_claim_stops_at_claim_bytes_of_raw_mail(tmp_path, monkeypatch):
    handler = Counting()
    server = _server(handler)
    try:
        db = Database(f"sqlite:///{tmp_path}/b.db")
        db.upgrade()
        _queue(db, 5, text_="x" * 3000)
        with db.read() as s:
            size = max(len(r) for r in s.scalars(text(
                "SELECT raw FROM messages WHERE direction = 'out'")))
        monkeypatch.setattr(outbox_module, "CLAIM_BYTES", 2 * size + 10)
        cfg = OutgoingConfig(host="127.0.0.1", port=server.port, security="none")
        outbox = Outbox(db, SmtpTransport(cfg), FixedClock(NOW))
        assert [outbox.deliver().sent for _ in range(4)] == [2, 2, 1, 0]
        assert len(handler.got) == 5
        db.dispose()
    finally:
        server.stop()
