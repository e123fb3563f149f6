"""Mail without a From is somebody's all the same: Sender, Reply-To or the envelope
sender say whose.  Mail with none of them is held in quarantine, and an answer to a
ticket nobody can be reached on is never reported as sent."""

from __future__ import annotations

import json
import smtplib
import socket
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest
import time_machine
from click.testing import CliRunner
from sqlalchemy import select

from mailticket.cli import main
from mailticket.clock import FixedClock
from mailticket.store.models import Event, Ticket
from tests.conftest import body, mail, reply

pytestmark = pytest.mark.integration

MONDAY = datetime(2026, 11, 23, 9, 15, tzinfo=UTC)


def cli_json(w, *args: str):
    with time_machine.travel(w.app.clock.now(), tick=False):
        r = CliRunner().invoke(main, ["--config", str(w.config_path), *args, "--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


def fromless(to: str, subject: str, headers: dict[str, str]) -> EmailMessage:
    """A mail as some scripts and broken gateways write it: no From header."""
    return mail(None, to, subject, "The nightly export failed again.\n", headers=headers,
                msgid_domain="script.example")


def fallback_events(w) -> list[tuple[int | None, str, str]]:
    with w.app.db.transaction() as s:
        return [(e.ticket_id, e.detail["header"], e.detail["address"])
                for e in s.scalars(select(Event).where(Event.kind == "sender_fallback"))]


@pytest.fixture
def world(make_world):
    return make_world(clock=FixedClock(MONDAY))


def test_sender_header_stands_in_for_a_missing_from(world):
    w = world
    w.deliver("support", fromless(w.addr("support"), "Export failed",
                                  {"Sender": f"Ops Robot <ops@{w.domain}>"}))
    w.poll()
    [t] = cli_json(w, "tickets")
    assert t["customer"] == f"ops@{w.domain}"
    [auto] = w.wait_inbox("ops", 1)
    assert auto["Subject"] == "Re: [Support #1] Export failed"
    assert "Ops Robot" in body(auto)
    assert fallback_events(w) == [(1, "sender", f"ops@{w.domain}")]


def test_envelope_sender_stands_in_when_there_is_nothing_else(world):
    # Through the real SMTP server: Dovecot's delivery writes the Return-Path.
    w = world
    m = fromless(w.addr("support"), "Export failed", {})
    with smtplib.SMTP(w.relay.host, w.relay.port) as s:
        s.login("helpdesk", "relay-pw")
        s.sendmail(f"bounces-ops@{w.domain}", [w.addr("support")], bytes(m))
    w.dovecot.wait_for_messages(w.addr("support"), 1)
    w.poll()
    [t] = cli_json(w, "tickets")
    assert t["customer"] == f"bounces-ops@{w.domain}"
    assert len(w.wait_inbox("bounces-ops", 1)) == 1
    assert fallback_events(w) == [(1, "return-path", f"bounces-ops@{w.domain}")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_listener_keeps_the_envelope_sender(make_world):
    # The embedded SMTP listener is the final delivery: it writes the Return-Path.
    port = free_port()
    w = make_world(clock=FixedClock(MONDAY),
                   extra=f"[listener]\nenabled = true\nport = {port}\n")
    from mailticket.ingest.listener import Listener

    listener = Listener(w.app)
    listener.start()
    try:
        with smtplib.SMTP("127.0.0.1", port) as s:
            s.sendmail(f"cron@{w.domain}", [w.addr("support")],
                       bytes(fromless(w.addr("support"), "Export failed", {})))
    finally:
        listener.stop()
    w.poll()
    [t] = cli_json(w, "tickets")
    assert t["customer"] == f"cron@{w.domain}"
    assert len(w.wait_inbox("cron", 1)) == 1


def test_mail_with_no_sender_address_at_all_is_quarantined(world):
    w = world
    w.deliver("support", fromless(w.addr("support"), "Who am I", {}))
    w.deliver("support", fromless(w.addr("support"), "Nor me",
                                  {"From": "undisclosed-recipients:;", "Reply-To": "nobody"}))
    w.poll()
    assert cli_json(w, "tickets") == []
    held = cli_json(w, "quarantine")
    assert len(held) == 2
    for item in held:
        assert "no sender address: no From, Sender, Reply-To or Return-Path" in item["reason"]


def test_an_answer_to_a_customer_without_address_is_never_reported_sent(world):
    """A ticket an earlier version opened for a From-less mail has no customer: the
    agent's answer gets the agent an error mail, not a relay to <>."""
    w = world
    w.deliver("support", fromless(w.addr("support"), "Export failed",
                                  {"Sender": f"ops@{w.domain}"}))
    w.poll()
    w.wait_inbox("ops", 1)
    with w.app.db.transaction() as s:  # as such tickets were stored before
        s.get(Ticket, 1).customer = ""
    [note] = w.wait_inbox("alice", 1)
    answer = reply(note, f"alice@{w.domain}", "We restarted the export.\n\nAlice",
                   msgid_domain="agent.example")
    w.deliver("support", answer)
    w.poll()
    [_, error] = w.wait_inbox("alice", 2)
    assert error["Subject"].startswith("Not sent: [Support #1]")
    assert "no customer address" in body(error)
    t = cli_json(w, "show", "1")
    assert [m["kind"] for m in t["messages"] if m["direction"] == "out"
            and m["kind"] == "agent"] == []
    assert len(w.inbox("ops")) == 1
