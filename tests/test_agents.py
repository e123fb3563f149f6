"""Agents answer from their mail client; the customer sees only what the agent wrote."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest
import time_machine
from click.testing import CliRunner

from mailticket.cli import main
from mailticket.clock import FixedClock
from tests.builders import reply
from tests.conftest import body, mail

pytestmark = pytest.mark.integration

MONDAY = datetime(2026, 11, 23, 9, 15, tzinfo=UTC)


def show(w, ticket_id: int = 1) -> dict:
    # At the world's instant: the SLA state is read against the wall clock.
    with time_machine.travel(w.app.clock.now(), tick=False):
        r = CliRunner().invoke(main, ["--config", str(w.config_path), "show", str(ticket_id),
                                      "--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


def quoted(text: str) -> str:
    return "\n".join("> " + line if line else ">" for line in text.splitlines())


@pytest.fixture
def ticket(make_world):
    """A world with ticket 1 from Jane (Cc: Kim) and Alice's notification in hand."""
    w = make_world(clock=FixedClock(MONDAY))
    first = mail(f"Jane Doe <jane@{w.domain}>", w.addr("support"), "Printer on fire",
                 "Hello,\nmy printer is on fire.\nJane", cc=[f"kim@{w.domain}"])
    w.deliver("support", first)
    w.poll()
    [note] = w.wait_inbox("alice", 1)
    w.first, w.note = first, note
    return w


def relayed_to_jane(w, count: int = 2) -> EmailMessage:
    msgs = w.wait_inbox("jane", count)
    assert len(msgs) == count
    return msgs[-1]


def assert_clean(text: str, w) -> None:
    """Nothing of the notification may reach the customer."""
    for leak in ("support+", "Please type your reply", "Earlier in this ticket", "Assignee:",
                 "#close", "wrote:", "a écrit", "написа", "schrieb"):
        assert leak not in text, f"{leak!r} leaked to the customer:\n{text}"


GMAIL = "Hi Jane,\n\nplease unplug it first.\n\nAlice"


def test_gmail_style_reply_is_relayed_threaded_and_clean(ticket):
    w = ticket
    text = f"{GMAIL}\n\nOn Mon, 23 Nov 2026 at 10:15, Jane Doe via Example Support " \
           f"<support@{w.domain}> wrote:\n{quoted(body(w.note))}\n"
    w.deliver("support", reply(w.note, f"Alice Martin <alice@{w.domain}>", text))
    w.poll()
    answer = relayed_to_jane(w)
    assert answer["From"] == f"Alice Martin via Example Support <support@{w.domain}>"
    assert answer["Subject"] == "Re: [Support #1] Printer on fire"
    assert answer["In-Reply-To"] == w.first["Message-ID"]
    assert w.first["Message-ID"] in answer["References"]
    assert answer["Cc"] == f"kim@{w.domain}"
    text = body(answer)
    assert text.startswith(GMAIL)
    assert_clean(text, w)
    # Kim, in Cc of the first mail, is a participant and gets the answer too.
    [kim_copy] = w.wait_inbox("kim", 1)
    assert kim_copy["Message-ID"] == answer["Message-ID"]
    t = show(w)
    assert (t["state"], t["sla"], t["due_at"]) == ("pending", "met", None)
    assert [m["kind"] for m in t["messages"] if m["direction"] == "in"] == ["customer", "agent"]


@pytest.mark.parametrize(("attribution", "words"), [
    ("Le lun. 23 nov. 2026 à 10:15, Jane Doe via Example Support <{sup}> a écrit :",
     "Bonjour Jane,\n\ndébranchez-la d'abord.\n\nAlice"),
    ("Am Mo., 23. Nov. 2026 um 10:15 Uhr schrieb Jane Doe via Example Support <{sup}>:",
     "Hallo Jane,\n\nbitte zuerst den Stecker ziehen.\n\nAlice"),
    ("Den mån 23 nov. 2026 kl 10:15 skrev Jane Doe via Example Support <{sup}>:",
     "Hej Jane,\n\ndra ur sladden först.\n\nAlice"),
    ("На пн, 23.11.2026 г. в 10:15 Jane Doe via Example Support <{sup}> написа:",
     "Здравейте, Джейн,\n\nмоля, първо изключете принтера.\n\nАлиса"),
    ("El lun, 23 nov 2026 a las 10:15, Jane Doe via Example Support (<{sup}>) escribió:",
     "Hola Jane,\n\ndesenchúfela primero.\n\nAlice"),
])
def test_quote_attributions_in_many_languages(ticket, attribution, words):
    w = ticket
    # Without the marker (some clients drop it), the attribution line is what tells.
    notification = body(w.note).replace("##- Please type your reply above this line -##", "")
    text = f"{words}\n\n{attribution.format(sup='support@' + w.domain)}\n{quoted(notification)}"
    w.deliver("support", reply(w.note, f"alice@{w.domain}", text))
    w.poll()
    got = body(relayed_to_jane(w))
    assert got.startswith(words + "\n")
    assert_clean(got, w)


def test_outlook_top_posting_with_header_block(ticket):
    w = ticket
    words = "Jane, a technician will call you today.\n\nRegards,\nAlice"
    text = (f"{words}\n\n________________________________\nFrom: Jane Doe via Example Support "
            f"<{w.note['Reply-To']}>\nSent: Monday, November 23, 2026 10:15 AM\n"
            f"To: alice@{w.domain}\nSubject: {w.note['Subject']}\n\n{body(w.note)}")
    # Outlook often sends no In-Reply-To; the token address is the proof.
    w.deliver("support", reply(w.note, f"alice@{w.domain}", text, threading=False))
    w.poll()
    got = body(relayed_to_jane(w))
    assert got.startswith(words + "\n")
    assert_clean(got, w)


def test_html_only_reply(ticket):
    w = ticket
    html = (f"<div dir='ltr'>Hi Jane,<br><br>the part is on its way.<br><br>Alice</div>"
            f"<div class='gmail_quote'><div>On Mon, 23 Nov 2026 Jane wrote:</div>"
            f"<blockquote>{body(w.note).replace(chr(10), '<br>')}</blockquote></div>")
    m = reply(w.note, f"alice@{w.domain}", html, subtype="html")
    w.deliver("support", m)
    w.poll()
    got = body(relayed_to_jane(w))
    assert "the part is on its way." in got
    assert_clean(got, w)


def test_agent_attachment_goes_along(ticket):
    w = ticket
    m = reply(w.note, f"alice@{w.domain}", "Here is the manual.\n\nAlice")
    m.add_attachment(b"%PDF-1.4 manual", maintype="application", subtype="pdf",
                     filename="manual.pdf")
    w.deliver("support", m)
    w.poll()
    answer = relayed_to_jane(w)
    [att] = list(answer.iter_attachments())
    assert (att.get_filename(), att.get_content()) == ("manual.pdf", b"%PDF-1.4 manual")


def test_forged_from_is_not_relayed(ticket):
    w = ticket
    [auto] = w.wait_inbox("jane", 1)
    # Somebody who knows the auto-response's Message-ID writes "as Alice" to support@.
    forged = mail(f"Alice <alice@{w.domain}>", w.addr("support"), "Re: " + auto["Subject"],
                  "Please send your password to evil@example.net", in_reply_to=auto["Message-ID"])
    w.deliver("support", forged)
    w.poll()
    assert len(w.inbox("jane")) == 1, "a forged agent mail reached the customer"
    t = show(w)
    assert t["messages"][-1]["kind"] != "agent"
    kinds = [m["kind"] for m in t["messages"] if m["direction"] == "in"]
    assert kinds == ["customer", "customer"]


def test_tampered_token_is_rejected(ticket):
    w = ticket
    good = w.note["Reply-To"]
    local, domain = good.split("@")
    tampered = local[:-1] + ("a" if local[-1] != "a" else "b") + "@" + domain
    w.deliver("support", reply(w.note, f"alice@{w.domain}", "Relay this!", to=tampered,
                               threading=False))
    w.poll()
    assert len(w.inbox("jane")) == 1
    assert show(w)["messages"][-1]["kind"] != "agent"


def test_commands(ticket):
    w = ticket
    w.deliver("support", reply(w.note, f"alice@{w.domain}",
                               "#assign bob\n#priority urgent\n\nBob will take this.\n"))
    w.poll()
    got = body(relayed_to_jane(w))
    assert got.startswith("Bob will take this.")
    assert "#assign" not in got and "#priority" not in got
    t = show(w)
    assert (t["assignee"], t["priority"], t["state"]) == (f"bob@{w.domain}", "urgent", "pending")

    w.deliver("support", reply(w.note, f"alice@{w.domain}", "#close\n"))
    w.poll()
    assert show(w)["state"] == "closed"
    # No answer text: the customer gets the closed notice, in the conversation.
    closed = w.wait_inbox("jane", 3)[-1]
    assert closed["Subject"] == "Re: [Support #1] Printer on fire"
    assert "closed" in body(closed) and "reply" in body(closed)

    w.deliver("support", reply(w.note, f"alice@{w.domain}", "#reopen\n#pending\n"))
    w.poll()
    assert show(w)["state"] == "pending"
    assert len(w.inbox("jane")) == 3, "commands alone send the customer nothing"


def test_unknown_command_gets_an_error_and_nothing_is_relayed(ticket):
    w = ticket
    w.deliver("support", reply(w.note, f"alice@{w.domain}", "#clsoe\n\nDone, closing.\n"))
    w.poll()
    errors = w.wait_inbox("alice", 2)
    err = errors[-1]
    assert err["Subject"].startswith("Not sent: [Support #1]")
    assert "unknown command #clsoe" in body(err)
    assert len(w.inbox("jane")) == 1
    assert show(w)["state"] == "new"


def test_internal_note_reaches_other_agents_never_the_customer(ticket):
    w = ticket
    w.deliver("support", reply(w.note, f"alice@{w.domain}",
                               "#note\nThis customer is a reseller; check the contract.\n"))
    w.poll()
    bob = w.wait_inbox("bob", 2)
    assert "This customer is a reseller" in body(bob[-1])
    assert "Internal note" in body(bob[-1])
    assert len(w.inbox("jane")) == 1 and w.inbox("kim") == []
    t = show(w)
    assert t["messages"][-2]["kind"] == "note" or t["messages"][-1]["kind"] == "note"
    assert t["state"] == "new" and t["sla"] == "on_track"


def test_mutt_reply_reaches_the_customer_with_only_the_agents_text(ticket, tmp_path):
    """A real mail client nobody here wrote: Debian's mutt, replying with its own quoting."""
    if not shutil.which("mutt"):
        if os.environ.get("CI"):
            pytest.fail("mutt is not installed (apt-get install mutt)")
        pytest.skip("mutt is not installed")
    w = ticket
    editor = tmp_path / "editor.sh"
    # The "agent" types above the quote, as one does, and leaves mutt's quote below.
    editor.write_text('#!/bin/sh\nprintf "Hi Jane,\\n\\nplease unplug it first.\\n\\nAlice\\n\\n"'
                      ' > "$1.new" && cat "$1" >> "$1.new" && mv "$1.new" "$1"\n')
    editor.chmod(0o755)
    user = f"alice%40{w.domain}"
    (tmp_path / "muttrc").write_text(f"""\
set folder="imap://{user}:{w.dovecot.PASSWORD}@127.0.0.1:{w.dovecot.imap_port}/"
set spoolfile="+INBOX"
set smtp_url="smtp://helpdesk:relay-pw@127.0.0.1:{w.relay.port}/"
set from="alice@{w.domain}"
set realname="Alice Martin"
set editor="{editor}"
set edit_headers=no
set include=yes
set fast_reply=yes
set reply_to=yes
set ssl_starttls=no
set ssl_force_tls=no
set record=""
set copy=no
set postpone=no
set mail_check=0
set header_cache=""
set message_cachedir=""
""")
    cmd = f"mutt -n -F {tmp_path}/muttrc -e 'push \"<reply><send-message><quit>\"'"
    r = subprocess.run(["script", "-qfec", cmd, "/dev/null"], capture_output=True, timeout=60,
                       stdin=subprocess.DEVNULL, env={**os.environ, "TERM": "xterm",
                                                      "HOME": str(tmp_path)})
    assert r.returncode == 0, r.stdout[-2000:]
    # mutt's mail went through the SMTP relay to the token address, i.e. into support@.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        w.poll()
        if len(w.inbox("jane")) >= 2:
            break
    answer = relayed_to_jane(w)
    got = body(answer)
    assert got.startswith("Hi Jane,\n\nplease unplug it first.\n\nAlice\n")
    assert_clean(got, w)
    assert answer["In-Reply-To"] == w.first["Message-ID"]
    assert show(w)["state"] == "pending"


def test_hidden_agent_names_and_answers_copied_to_the_other_agents(ticket):
    w = ticket
    w.reconfigure('display_name = "Example Support"\n',
                  'display_name = "Example Support"\nhide_agent_names = true\n'
                  'copy_answers_to_agents = true\n')
    w.deliver("support", reply(w.note, f"Alice Martin <alice@{w.domain}>",
                               "Hello Jane, it is fixed now.\n\nThe support team"))
    w.poll()
    answer = relayed_to_jane(w)
    assert answer["From"] == f"Example Support <support@{w.domain}>"
    bob = w.wait_inbox("bob", 2)
    assert "it is fixed now" in body(bob[-1])
    assert "answered [Support #1]" in body(bob[-1])
    assert len(w.inbox("alice")) == 1, "the author gets no copy of their own answer"
