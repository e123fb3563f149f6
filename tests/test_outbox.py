"""The outbox against a real SMTP server that refuses some recipients."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

from aiosmtpd.controller import Controller
from sqlalchemy import select

from mailticket.clock import FixedClock
from mailticket.config import OutgoingConfig
from mailticket.outgoing.compose import build
from mailticket.outgoing.outbox import Outbox, enqueue
from mailticket.outgoing.transport import SmtpTransport
from mailticket.store.db import Database
from mailticket.store.models import Event, OutboxItem
from mailticket.store.writes import writing

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


class Picky:
    accepted: list[bytes] = []

    async def handle_RCPT(self, server, session, envelope, address, options):
        if address.startswith("gone@"):
            return "550 5.1.1 no such user"
        if address.startswith("full@"):
            return "452 4.2.2 mailbox full"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.accepted.append(envelope.original_content)
        return "250 OK"


def test_permanent_temporary_and_accepted(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    handler = Picky()
    server = Controller(handler, hostname="127.0.0.1", port=port)
    server.start()
    try:
        db = Database(f"sqlite:///{tmp_path}/o.db")
        db.upgrade()
        with db.transaction() as s, writing(s) as ws:
            for who in ("ok", "gone", "full"):
                out = build("auto_response", from_name="Support", from_addr="support@x.example",
                            to=[("", f"{who}@y.example")], subject="Hi", text="Hello",
                            date=NOW, instance="t", auto_submitted="auto-replied")
                enqueue(ws, out, ticket=None, now=NOW)
        cfg = OutgoingConfig(host="127.0.0.1", port=port, security="none")
        outbox = Outbox(db, SmtpTransport(cfg), FixedClock(NOW))
        report = outbox.deliver()
        assert (report.sent, report.failed, report.deferred) == (1, 1, 1)
        assert len(handler.accepted) == 1
        with db.read() as s:
            rows = {r.rcpt_to[0].split("@")[0]: r for r in s.scalars(select(OutboxItem))}
            assert rows["ok"].sent_at is not None
            assert rows["gone"].failed_at is not None and "550" in rows["gone"].last_error
            assert rows["full"].sent_at is None and rows["full"].failed_at is None
            assert rows["full"].next_attempt_at > NOW  # backed off, tried again later
            kinds = sorted(e.kind for e in s.scalars(select(Event)))
        assert kinds == ["mail_failed", "mail_sent"]
        assert outbox.deliver().sent == 0  # nothing due until the back-off passes
        db.dispose()
    finally:
        server.stop()
