"""Machine mail and big mail over the real servers: kept, never answered, never lost."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from mailticket.cli import main
from mailticket.store.models import Message
from tests.conftest import body, mail

pytestmark = pytest.mark.integration


def show(w, n=1):
    r = CliRunner().invoke(main, ["--config", str(w.config_path), "show", str(n), "--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


def test_huge_mail_is_kept_whole_and_its_attachment_only_listed(make_world):
    w = make_world()
    m = mail(f"jane@{w.domain}", w.addr("support"), "Logs", "The logs are attached.")
    big = bytes(range(256)) * (12 * 1024 * 1024 // 256)  # 12 MiB, over the 10 MiB limit
    m.add_attachment(big, maintype="application", subtype="octet-stream", filename="logs.bin")
    raw = bytes(m)
    w.deliver("support", m)
    w.poll()
    [note] = w.wait_inbox("alice", 1)
    assert list(note.iter_attachments()) == []
    assert "logs.bin (application/octet-stream, 12582912 bytes)" in body(note)
    assert "too large to copy" in body(note)
    with w.app.db.read() as s:
        stored = s.scalars(select(Message.raw).where(Message.direction == "in")).one()
    assert stored.replace(b"\r\n", b"\n") == raw.replace(b"\r\n", b"\n")


def test_small_attachment_goes_along_to_the_agents(make_world):
    w = make_world()
    m = mail(f"jane@{w.domain}", w.addr("support"), "Photo", "See the photo.")
    m.add_attachment(b"\x89PNG fake", maintype="image", subtype="png", filename="printer.png")
    w.deliver("support", m)
    w.poll()
    [note] = w.wait_inbox("alice", 1)
    [att] = list(note.iter_attachments())
    assert (att.get_filename(), att.get_content()) == ("printer.png", b"\x89PNG fake")


def test_bounce_of_our_auto_response_is_attached_and_shown_to_agents(make_world):
    w = make_world()
    w.deliver("support", mail(f"Jane <jane@{w.domain}>", w.addr("support"), "Help", "x"))
    w.poll()
    [auto] = w.wait_inbox("jane", 1)
    dsn = (f"From: MAILER-DAEMON@mx.{w.domain}\r\nTo: support@{w.domain}\r\n"
           f"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn1@mx>\r\n"
           f"Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
           f"Content-Type: multipart/report; report-type=delivery-status; boundary=B\r\n\r\n"
           f"--B\r\nContent-Type: text/plain\r\n\r\nI could not deliver your mail.\r\n"
           f"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
           f"Final-Recipient: rfc822; jane@{w.domain}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
           f"\r\n--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
           f"Message-ID: {auto['Message-ID']}\r\nSubject: {auto['Subject']}\r\n\r\n--B--\r\n")
    w.dovecot.append(w.addr("support"), dsn.encode())
    w.poll()
    t = show(w)
    assert [m["kind"] for m in t["messages"] if m["direction"] == "in"] == ["customer", "bounce"]
    notes = w.wait_inbox("alice", 2)
    assert "Delivery failure on [Support #1]" in body(notes[-1])
    assert f"Bouncing:   jane@{w.domain}" in body(notes[-1])
    assert len(w.inbox("jane")) == 1, "a bounce is never answered"
    # customer, auto-response, 2 notifications, the bounce, 2 notifications about it
    assert len(show(w)["messages"]) == 7


def test_out_of_office_on_a_ticket_starts_no_clock(make_world):
    w = make_world()
    w.deliver("support", mail(f"jane@{w.domain}", w.addr("support"), "Help", "x"))
    w.poll()
    [auto] = w.wait_inbox("jane", 1)
    w.deliver("support", mail(f"jane@{w.domain}", w.addr("support"),
                              "Automatic reply: " + auto["Subject"], "I am on holiday.",
                              in_reply_to=auto["Message-ID"],
                              headers={"Auto-Submitted": "auto-replied"}))
    w.poll()
    t = show(w)
    assert t["messages"][-1]["kind"] == "auto_reply"
    assert t["state"] == "new"
    assert len(w.inbox("jane")) == 1 and len(w.inbox("alice")) == 1
