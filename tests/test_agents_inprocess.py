"""Agents' commands and agent proof, in process over the maildir transport: the same
behaviour tests/test_agents.py checks through Dovecot and SMTP, without a mail server,
so a change to commands or proof is seen in a second."""

from __future__ import annotations

import mailbox
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from mailticket.app import App
from mailticket.clock import FixedClock
from mailticket.config import parse_config
from mailticket.store.models import Message, Ticket
from tests.builders import ONE_DAY, PARIS_OFFICE, config_toml, department, maildir, sqlite
from tests.conftest import body, mail, reply

MONDAY = datetime(2026, 11, 23, 9, 15, tzinfo=UTC)
DOMAIN = "desk.example"


def at(local: str) -> str:
    return f"{local}@{DOMAIN}"


@dataclass
class Desk:
    """One helpdesk whose outgoing mail lands in a maildir, read back per recipient."""

    app: App
    sent: Path

    def receive(self, m: EmailMessage) -> str:
        """What the IMAP poller does with a mail in support's INBOX, then the outbox."""
        action = self.app.ingest(bytes(m), department="support", source="test").action
        while self.app.outbox.deliver().sent:
            pass
        return action

    def inbox(self, local: str) -> list[EmailMessage]:
        """Mails sent to ``local`` (envelope recipient), in the order they were written."""
        box = mailbox.Maildir(self.sent, create=True)
        # Maildir keys hold a per-process counter after "Q": the order of writing.
        keys = sorted(box.keys(), key=lambda k: int(k.split("Q")[1].split(".")[0]))
        raws = [box.get_bytes(k) for k in keys]
        return [message_from_bytes(r, policy=policy.default) for r in raws
                if f"X-Mailticket-Envelope-To: {at(local)}\r\n".encode() in r.split(b"\r\n\r\n")[0]
                + b"\r\n"]

    def kinds_in(self, ticket_id: int = 1) -> list[str]:
        """The kinds of the mails ticket ``ticket_id`` received, oldest first."""
        with self.app.db.read() as s:
            return list(s.scalars(select(Message.kind).where(
                Message.ticket_id == ticket_id, Message.direction == "in").order_by(Message.id)))

    def ticket(self, ticket_id: int = 1) -> Ticket:
        with self.app.db.read() as s:
            t = s.get(Ticket, ticket_id)
            s.expunge(t)
            return t


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    """Ticket 1 from Jane (Cc: Kim), Alice's notification and Jane's auto-response sent."""
    text = config_toml(
        database=sqlite(tmp_path), outgoing=maildir(tmp_path), calendar=PARIS_OFFICE,
        sla=ONE_DAY, departments=[department("support", DOMAIN, display_name="Example Support",
                                             agents=["alice", "bob"], escalate_to=["lead"])])
    app = App(parse_config(text, str(tmp_path / "c.toml")), FixedClock(MONDAY))
    app.ensure_schema()
    d = Desk(app, tmp_path / "sent")
    d.receive(mail(f"Jane Doe <{at('jane')}>", at("support"), "Printer on fire",
                   "Hello,\nmy printer is on fire.\nJane", cc=[at("kim")]))
    yield d
    app.close()


def note(d: Desk) -> EmailMessage:
    return d.inbox("alice")[0]


def test_commands_change_the_ticket_and_only_the_text_reaches_the_customer(desk):
    d = desk
    d.receive(reply(note(d), at("alice"), "#assign bob\n#priority urgent\n\nBob will take this.\n"))
    got = body(d.inbox("jane")[-1])
    assert got.startswith("Bob will take this.")
    assert "#assign" not in got and "#priority" not in got
    t = d.ticket()
    assert (t.assignee, t.priority, t.state) == (at("bob"), "urgent", "pending")

    d.receive(reply(note(d), at("alice"), "#close\n"))
    assert d.ticket().state == "closed"
    closed = d.inbox("jane")[-1]
    assert closed["Subject"] == "Re: [Support #1] Printer on fire"
    assert "closed" in body(closed) and "reply" in body(closed)

    d.receive(reply(note(d), at("alice"), "#reopen\n#pending\n"))
    assert d.ticket().state == "pending"
    assert len(d.inbox("jane")) == 3, "commands alone send the customer nothing"


def test_unknown_command_gets_an_error_and_nothing_is_relayed(desk):
    d = desk
    d.receive(reply(note(d), at("alice"), "#clsoe\n\nDone, closing.\n"))
    err = d.inbox("alice")[-1]
    assert err["Subject"].startswith("Not sent: [Support #1]")
    assert "unknown command #clsoe" in body(err)
    assert len(d.inbox("jane")) == 1
    assert d.ticket().state == "new"


def test_internal_note_reaches_other_agents_never_the_customer(desk):
    d = desk
    d.receive(reply(note(d), at("alice"), "#note\nThis customer is a reseller; check it.\n"))
    bob = d.inbox("bob")
    assert len(bob) == 2 and "This customer is a reseller" in body(bob[-1])
    assert "Internal note" in body(bob[-1])
    assert len(d.inbox("jane")) == 1 and d.inbox("kim") == []
    assert d.ticket().state == "new"


def test_token_alone_proves_the_agent(desk):
    """Outlook sends no In-Reply-To: the token Reply-To is enough."""
    d = desk
    assert d.receive(reply(note(d), at("alice"), "Unplug it first.\n", threading=False)) \
        == "agent_relayed"
    assert body(d.inbox("jane")[-1]).startswith("Unplug it first.")


def test_reference_to_a_notification_alone_proves_the_agent(desk):
    """A client that answers to support@ instead of the Reply-To, keeping the thread."""
    d = desk
    assert d.receive(reply(note(d), at("alice"), "Unplug it first.\n", to=at("support"))) \
        == "agent_relayed"
    assert body(d.inbox("jane")[-1]).startswith("Unplug it first.")


def test_forged_from_is_not_relayed(desk):
    d = desk
    [auto] = d.inbox("jane")
    # Somebody who knows the auto-response's Message-ID writes "as Alice" to support@.
    d.receive(mail(f"Alice <{at('alice')}>", at("support"), "Re: " + auto["Subject"],
                   "Please send your password to evil@example.net",
                   in_reply_to=auto["Message-ID"]))
    assert len(d.inbox("jane")) == 1, "a forged agent mail reached the customer"
    assert d.kinds_in() == ["customer", "customer"]


def test_tampered_token_is_rejected(desk):
    d = desk
    local, domain = str(note(d)["Reply-To"]).split("@")
    tampered = local[:-1] + ("a" if local[-1] != "a" else "b") + "@" + domain
    d.receive(reply(note(d), at("alice"), "Relay this!", to=tampered, threading=False))
    assert len(d.inbox("jane")) == 1
    assert "agent" not in d.kinds_in()
