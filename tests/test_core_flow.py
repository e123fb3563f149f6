"""Customer mail → ticket → auto-response, over a real Dovecot and a real SMTP server."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import time_machine
from click.testing import CliRunner

from mailticket.cli import main
from mailticket.clock import FixedClock
from tests.conftest import body, mail

pytestmark = pytest.mark.integration

# Monday 23 November 2026, 10:15 in Paris: one business day later is Tuesday 10:15.
MONDAY = datetime(2026, 11, 23, 9, 15, tzinfo=UTC)


def cli(world, *args: str) -> str:
    """The admin's CLI, run at the world's own instant: SLA states are read against the
    wall clock, which must not be whatever day the suite happens to run on."""
    with time_machine.travel(world.app.clock.now(), tick=False):
        r = CliRunner().invoke(main, ["--config", str(world.config_path), *args])
    assert r.exit_code == 0, r.output
    return r.output


def test_new_mail_gets_a_ticket_and_one_auto_response(make_world, db_url):
    w = make_world(db_url=db_url, clock=FixedClock(MONDAY))
    first = mail(f"Jane Doe <jane@{w.domain}>", w.addr("support"), "Printer on fire",
                 "Hello,\nmy printer is on fire since this morning.\nJane")
    w.deliver("support", first)
    w.poll()

    [auto] = w.wait_inbox("jane", 1)
    assert auto["Subject"] == "Re: [Support #1] Printer on fire"
    assert auto["In-Reply-To"] == first["Message-ID"]
    assert first["Message-ID"] in auto["References"]
    assert auto["Auto-Submitted"] == "auto-replied"
    assert auto["X-Mailticket-Loop"] == "mailticket-test"
    assert auto["From"] == f"Example Support <support@{w.domain}>"
    text = body(auto)
    assert "Hello Jane Doe," in text
    assert "Tuesday 24 November 2026, 10:15 CET" in text

    tickets = json.loads(cli(w, "tickets", "--json"))
    assert [(t["id"], t["ref"], t["department"], t["customer"], t["state"], t["sla"])
            for t in tickets] == [(1, "[Support #1]", "support", f"jane@{w.domain}", "new",
                                   "on_track")]
    # The promise and the SLA clock are the same instant.
    assert tickets[0]["due_at"] == "2026-11-24T10:15:00+01:00"

    # Each agent got a notification that a reply can come back through.
    for agent in ("alice", "bob"):
        [note] = w.wait_inbox(agent, 1)
        assert note["Subject"] == "[Support #1] Printer on fire"
        assert note["Reply-To"].startswith("support+1-")
        assert note["Auto-Submitted"] == "auto-generated"
        assert "my printer is on fire" in body(note)
        assert "Please type your reply above this line" in body(note)

    shown = json.loads(cli(w, "show", "1", "--json"))
    kinds = [(m["direction"], m["kind"]) for m in shown["messages"]]
    assert kinds == [("in", "customer"), ("out", "auto_response"), ("out", "notification"),
                     ("out", "notification")]
    assert shown["messages"][0]["text"].startswith("Hello,\nmy printer is on fire")


def test_reply_joins_the_ticket_and_a_copied_tag_does_not(make_world):
    w = make_world(clock=FixedClock(MONDAY))
    w.deliver("support", mail(f"jane@{w.domain}", w.addr("support"), "Printer", "It smokes."))
    w.poll()
    [auto] = w.wait_inbox("jane", 1)

    # Jane answers the auto-response from her mail client.
    w.deliver("support", mail(f"jane@{w.domain}", w.addr("support"), "AW: " + auto["Subject"],
                              "Now it is worse.", in_reply_to=auto["Message-ID"]))
    # Jane again, a fresh mail that only carries the tag.
    w.deliver("support", mail(f"jane@{w.domain}", w.addr("support"), "[Support #1] photo",
                              "Here is a photo."))
    # A stranger copies the tag into a new mail.
    w.deliver("support", mail(f"eve@{w.domain}", w.addr("support"), "Re: [Support #1] Printer",
                              "Let me in."))
    w.poll()

    assert len(w.inbox("jane")) == 1, "no second auto-response to Jane"
    [eve_auto] = w.wait_inbox("eve", 1)
    assert eve_auto["Subject"] == "Re: [Support #2] Printer"
    shown = json.loads(cli(w, "show", "1", "--json"))
    incoming = [m["text"].strip() for m in shown["messages"] if m["direction"] == "in"]
    assert incoming == ["It smokes.", "Now it is worse.", "Here is a photo."]
    assert [p["address"] for p in shown["participants"]] == [f"jane@{w.domain}"]
    # Agents hear about each follow-up.
    w.wait_inbox("alice", 4)


def test_sales_mail_goes_to_sales_with_its_own_template(make_world):
    w = make_world(clock=FixedClock(MONDAY))
    w.deliver("sales", mail(f"Bo <bo@{w.domain}>", w.addr("sales"), "Quote for 40 chairs",
                            "Could you quote 40 chairs?"))
    w.poll()
    [auto] = w.wait_inbox("bo", 1)
    assert auto["Subject"] == "Re: [Sales #1] Quote for 40 chairs"
    assert auto["From"] == f"Example Sales <sales@{w.domain}>"
    assert "one of our sales team will get back to you" in body(auto)
    [t] = json.loads(cli(w, "tickets", "--json", "--department", "sales"))
    assert t["department"] == "sales"
    assert json.loads(cli(w, "tickets", "--json", "--department", "support")) == []
    w.wait_inbox("carol", 1)
    assert w.inbox("alice") == []


def test_one_mail_to_two_departments_is_one_ticket_in_the_first(make_world):
    w = make_world(clock=FixedClock(MONDAY))
    m = mail(f"jane@{w.domain}", [w.addr("sales"), w.addr("support")], "Invoice and broken part",
             "Two questions.")
    w.deliver("support", m)
    w.deliver("sales", m)
    w.poll()
    [t] = json.loads(cli(w, "tickets", "--json"))
    assert (t["department"], t["ref"]) == ("sales", "[Sales #1]")
    assert len(w.wait_inbox("jane", 1)) == 1


def test_seen_flag_set_by_a_person_does_not_hide_mail(make_world):
    w = make_world(clock=FixedClock(MONDAY))
    w.deliver("support", mail(f"jane@{w.domain}", w.addr("support"), "Hello", "Read by a human"))
    c = w.dovecot.client(w.addr("support"))
    c.select_folder("INBOX")
    c.add_flags(c.search(), [b"\\Seen"])
    c.logout()
    w.poll()
    assert len(w.wait_inbox("jane", 1)) == 1
    # A second poll finds nothing new and sends nothing twice.
    w.poll()
    assert len(w.inbox("jane")) == 1
    assert len(json.loads(cli(w, "tickets", "--json"))) == 1


def test_machine_mail_gets_no_auto_response(make_world):
    w = make_world(clock=FixedClock(MONDAY))
    w.deliver("support", mail(f"jane@{w.domain}", w.addr("support"), "Out of office",
                              "I am away.", headers={"Auto-Submitted": "auto-replied"}))
    w.deliver("support", mail(f"news@{w.domain}", w.addr("support"), "Our newsletter",
                              "Buy now.", headers={"List-Id": "<news.example>"}))
    w.poll()
    assert json.loads(cli(w, "tickets", "--json")) == []
    assert w.inbox("jane") == [] and w.inbox("news") == []
