"""The outbox sends a claimed batch over several SMTP sessions at once, each mail once."""

from __future__ import annotations

import re
import socket
from datetime import UTC, datetime

from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from mailticket.clock import FixedClock
from mailticket.config import OutgoingConfig
from mailticket.outgoing.compose import build
from mailticket.outgoing.outbox import Outbox, enqueue
from mailticket.outgoing.transport import SmtpTransport
from mailticket.store.db import Database
from mailticket.store.models import Event, OutboxItem
from mailticket.store.writes import writing

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
MESSAGE_ID = re.compile(rb"(?mi)^Message-ID:\s*(<[^>]+>)")


class Recording:
    """Which session (the client's port) handed over which Message-ID."""

    def __init__(self) -> None:
        self.got: list[tuple[int, bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        found = MESSAGE_ID.search(envelope.original_content)
        self.got.append((session.peer[1], found.group(1) if found else b""))
        return "250 OK"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_batch_goes_out_over_several_sessions_each_mail_once(tmp_path, db_url):
    port = _port()
    handler = Recording()
    server = Controller(handler, hostname="127.0.0.1", port=port)
    server.start()
    try:
        db = Database(db_url or f"sqlite:///{tmp_path}/o.db")
        db.upgrade()
        with db.transaction() as s, writing(s) as ws:
            for i in range(40):
                out = build("auto_response", from_name="Support",
                            from_addr="support@x.example", to=[("", f"c{i}@y.example")],
                            subject=f"Hi {i}", text="Hello", date=NOW, instance="t",
                            auto_submitted="auto-replied")
                enqueue(ws, out, ticket=None, now=NOW)
        cfg = OutgoingConfig(host="127.0.0.1", port=port, security="none", connections=4)
        outbox = Outbox(db, SmtpTransport(cfg), FixedClock(NOW), connections=cfg.connections)
        report = outbox.deliver()
        assert (report.sent, report.failed, report.deferred, report.down) == (40, 0, 0, None)
        sessions = {peer for peer, _ in handler.got}
        ids = [mid for _, mid in handler.got]
        assert len(sessions) == 4  # four SMTP sessions, ten mails each
        assert len(ids) == len(set(ids)) == 40  # every mail once
        with db.read() as s:
            assert s.scalar(select(func.count()).select_from(OutboxItem).where(
                OutboxItem.sent_at.is_(None))) == 0
            assert {r.attempts for r in s.scalars(select(OutboxItem))} == {1}
            assert s.scalar(select(func.count()).select_from(Event).where(
                Event.kind == "mail_sent")) == 40
        assert outbox.deliver().sent == 0  # nothing left, nothing sent twice
        assert len(handler.got) == 40
        db.dispose()
    finally:
        server.stop()


def test_connections_is_checked():
    import pydantic
    import pytest

    with pytest.raises(pydantic.ValidationError, match="connections"):
        OutgoingConfig(connections=0)
