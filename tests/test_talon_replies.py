"""talon's real client replies (AOL, Android, Apple Mail, Gmail, Outlook, Thunderbird,
Yahoo …) sent as agent answers: the customer receives exactly the text the author typed."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.utils import make_msgid

import pytest
from sqlalchemy import select

from mailticket.store.models import Message, OutboxItem
from tests.corpora import HELPDESK_DOMAIN, talon_standard_replies, throwaway_app


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@pytest.fixture(scope="module")
def replies():
    return talon_standard_replies()


def test_each_real_client_reply_is_relayed_with_exactly_its_new_text(tmp_path, replies):
    app = throwaway_app(tmp_path / "desk")
    failures = []
    for n, reply in enumerate(replies, start=1):
        customer = (f"From: Jane <jane{n}@customer.example>\r\nTo: support@{HELPDESK_DOMAIN}\r\n"
                    f"Subject: Question {n}\r\nMessage-ID: <q{n}@customer.example>\r\n\r\n"
                    f"Hello, question {n}.\r\n").encode()
        assert app.ingest(customer, department="support", source="test").action == "new_ticket"
        with app.db.read() as s:
            notes = s.scalars(select(Message).where(
                Message.ticket_id == n, Message.kind == "notification")).all()
            [note] = [m for m in notes if m.to == [f"alice@{HELPDESK_DOMAIN}"]]
            reply_to = message_from_bytes(note.raw, policy=policy.default)["Reply-To"]
            note_id = note.message_id
        msg = message_from_bytes(reply.path.read_bytes(), policy=policy.default)
        for h in ("From", "To", "Cc", "In-Reply-To", "References", "Message-ID", "Reply-To",
                  "Sender"):
            del msg[h]
        msg["From"] = f"Alice <alice@{HELPDESK_DOMAIN}>"
        msg["To"] = str(reply_to)
        msg["Message-ID"] = make_msgid(domain="talon.example")
        msg["In-Reply-To"] = note_id
        outcome = app.ingest(msg.as_bytes(), department="support", source=reply.path.name)
        if outcome.action != "agent_relayed":
            failures.append(f"{reply.path.name}: {outcome.action} {outcome.reason}")
            continue
        with app.db.read() as s:
            raw = s.scalars(select(Message.raw).join(
                OutboxItem, OutboxItem.message_id == Message.message_id).where(
                OutboxItem.ticket_id == n, OutboxItem.kind == "agent")).one()
        sent = message_from_bytes(raw, policy=policy.default).get_body(("plain",)).get_content()
        relayed = sent.replace("\r\n", "\n").rsplit("\n--\n", 1)[0]
        if _norm(relayed) != _norm(reply.new_text):
            failures.append(f"{reply.path.name}: relayed {relayed!r}, typed {reply.new_text!r}")
    app.close()
    print(f"{len(replies) - len(failures)}/{len(replies)} talon replies exact")
    assert not failures, "\n".join(failures)
