"""The outbox over a server that offers PIPELINING (RFC 2920): MAIL, RCPT and DATA go in
one write, and refusals come out as they do one command at a time."""

from __future__ import annotations

import smtplib
import socket
from datetime import UTC, datetime

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from mailticket.clock import FixedClock
from mailticket.config import OutgoingConfig
from mailticket.outgoing.compose import build
from mailticket.outgoing.outbox import Outbox, enqueue
from mailticket.outgoing.transport import SmtpTransport, pipelined_sendmail
from mailticket.store.db import Database
from mailticket.store.models import OutboxItem
from mailticket.store.writes import writing

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


class Pipelining:
    """Offers PIPELINING; refuses some recipients and senders; records what it reads."""

    def __init__(self) -> None:
        self.accepted: list[tuple[list[str], bytes]] = []

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_MAIL(self, server, session, envelope, address, options):
        if address.startswith("banned@"):
            return "553 5.7.1 sender not allowed"
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, options):
        if address.startswith("gone@"):
            return "550 5.1.1 no such user"
        if address.startswith("full@"):
            return "452 4.2.2 mailbox full"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.accepted.append((list(envelope.rcpt_tos), envelope.original_content))
        return "250 OK"


@pytest.fixture
def server():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    handler = Pipelining()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def _mail(to: list[str], sender: str = "support@x.example"):
    return build("auto_response", from_name="Support", from_addr=sender,
                 to=[("", a) for a in to], subject="Hi", text=".dot first\nHello",
                 date=NOW, instance="t", auto_submitted="auto-replied")


def test_the_outbox_pipelines_with_the_same_outcomes(tmp_path, server):
    handler, port = server
    db = Database(f"sqlite:///{tmp_path}/o.db")
    db.upgrade()
    with db.transaction() as s, writing(s) as ws:
        for to in (["ok@y.example"], ["gone@y.example"], ["full@y.example"],
                   ["ok2@y.example", "gone@y.example"], ["gone@y.example", "full@y.example"]):
            enqueue(ws, _mail(to), ticket=None, now=NOW)
        enqueue(ws, _mail(["ok3@y.example"], sender="banned@x.example"), ticket=None, now=NOW)
    outbox = Outbox(db, SmtpTransport(OutgoingConfig(host="127.0.0.1", port=port,
                                                     security="none")), FixedClock(NOW))
    report = outbox.deliver()
    # ok, ok2 (gone refused): sent; gone: failed; full, gone+full (one temporary),
    # banned sender: deferred, all on one session that stays in step.
    assert (report.sent, report.failed, report.deferred) == (2, 1, 3)
    assert [to for to, _ in handler.accepted] == [["ok@y.example"], ["ok2@y.example"]]
    assert b"\r\n..dot first" not in handler.accepted[0][1]  # dots unquoted again
    with db.read() as s:
        rows = {tuple(r.rcpt_to): r for r in s.scalars(select(OutboxItem))}
    assert rows[("ok2@y.example", "gone@y.example")].sent_at is not None
    assert "gone@y.example" in rows[("ok2@y.example", "gone@y.example")].last_error
    assert rows[("gone@y.example",)].failed_at is not None
    for key in (("full@y.example",), ("gone@y.example", "full@y.example"),
                ("ok3@y.example",)):
        assert rows[key].sent_at is None and rows[key].failed_at is None
    db.dispose()


def test_refusals_raise_as_smtplib_does(server):
    handler, port = server
    smtp = smtplib.SMTP("127.0.0.1", port, timeout=10)
    try:
        smtp.ehlo()
        assert smtp.has_extn("pipelining")
        raw = bytes(_mail(["ok@y.example"]).raw)
        with pytest.raises(smtplib.SMTPSenderRefused):
            pipelined_sendmail(smtp, "banned@x.example", ["ok@y.example"], raw)
        with pytest.raises(smtplib.SMTPRecipientsRefused) as e:
            pipelined_sendmail(smtp, "a@x.example", ["gone@y.example", "full@y.example"], raw)
        assert {r: c for r, (c, _) in e.value.recipients.items()} == {
            "gone@y.example": 550, "full@y.example": 452}
        assert pipelined_sendmail(smtp, "a@x.example", ["ok@y.example", "gone@y.example"],
                                  raw) == {"gone@y.example": (550, b"5.1.1 no such user")}
        assert smtp.sendmail("a@x.example", ["ok@y.example"], raw) == {}  # still in step
        dots = b"Subject: dots\r\n\r\n.first\r\nmiddle\r\n..two\r\n."
        assert pipelined_sendmail(smtp, "a@x.example", ["ok@y.example"], dots) == {}
        assert len(handler.accepted) == 3
        assert handler.accepted[0][1].replace(b"\r\n", b"\n") == raw.replace(b"\r\n", b"\n")
        assert handler.accepted[2][1] == dots + b"\r\n"  # each line's dot given back
    finally:
        smtp.quit()
