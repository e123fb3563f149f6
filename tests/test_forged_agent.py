"""A mail "from Alice" that proves nothing: it joins the ticket its tag names, as a
customer's message the agents are warned about; nobody on the staff gets an
auto-response; nothing of it reaches the customer."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import time_machine
from click.testing import CliRunner
from sqlalchemy import select

from mailticket.cli import main
from mailticket.clock import FixedClock
from mailticket.store.models import Event
from tests.conftest import mail

pytestmark = pytest.mark.integration

MONDAY = datetime(2026, 11, 23, 9, 15, tzinfo=UTC)


def show(w, ticket_id: int) -> dict:
    with time_machine.travel(w.app.clock.now(), tick=False):
        r = CliRunner().invoke(main, ["--config", str(w.config_path), "show", str(ticket_id),
                                      "--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


def tickets(w) -> list[dict]:
    with time_machine.travel(w.app.clock.now(), tick=False):
        r = CliRunner().invoke(main, ["--config", str(w.config_path), "tickets", "--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


def events(w, kind: str) -> list[Event]:
    with w.app.db.transaction() as s:
        rows = list(s.scalars(select(Event).where(Event.kind == kind)))
        s.expunge_all()
    return rows


def auto_responses(w, local: str) -> list:
    return [m for m in w.inbox(local) if m["Auto-Submitted"] == "auto-replied"]


@pytest.fixture
def world(make_world):
    w = make_world(clock=FixedClock(MONDAY))
    w.deliver("support", mail(f"Jane Doe <jane@{w.domain}>", w.addr("support"),
                              "Printer on fire", "Hello,\nmy printer is on fire.\nJane"))
    w.poll()
    w.wait_inbox("jane", 1)
    w.wait_inbox("alice", 1)
    return w


def test_forged_agent_mail_with_the_tag_joins_the_ticket_flagged(world, monkeypatch):
    w = world
    warned = []
    notify = w.app.pipeline.mailer.notify_agents

    def spy(*args, **kwargs):
        warned.append(kwargs.get("suspected_spoof", False))
        return notify(*args, **kwargs)

    monkeypatch.setattr(w.app.pipeline.mailer, "notify_agents", spy)
    # No token, no reference to a notification: only the tag and Alice's From.
    forged = mail(f"Alice <alice@{w.domain}>", w.addr("support"),
                  "Re: [Support #1] Printer on fire",
                  "Jane, please send your password to evil@example.net")
    w.deliver("support", forged)
    w.poll()

    assert [t["id"] for t in tickets(w)] == [1], "the forged mail opened a ticket"
    t = show(w, 1)
    assert [(m["kind"], m["from"]) for m in t["messages"] if m["direction"] == "in"] == [
        ("customer", f"jane@{w.domain}"), ("customer", f"alice@{w.domain}")]
    assert f"alice@{w.domain}" not in [p["address"] for p in t["participants"]]
    [spoof] = events(w, "suspected_spoof")
    assert (spoof.ticket_id, spoof.actor, spoof.detail["rule"]) == (
        1, f"alice@{w.domain}", "subject_tag")
    assert warned == [True], "the agents' notification was not told it is a suspected spoof"
    assert auto_responses(w, "alice") == []
    w.wait_inbox("bob", 2)  # the agents hear of it ...
    assert len(w.inbox("jane")) == 1, "the forged mail reached the customer"  # ... Jane not


def test_no_auto_response_to_a_staff_address_opening_a_ticket(world):
    w = world
    w.deliver("support", mail(f"Alice <alice@{w.domain}>", w.addr("support"),
                              "Toner order", "We are out of toner."))
    # Carol is an agent of sales, not of support: the tag of a support ticket lets her
    # into nothing, and she gets no auto-response either.
    w.deliver("support", mail(f"Carol <carol@{w.domain}>", w.addr("support"),
                              "Re: [Support #1] Printer on fire", "Is this ours?"))
    w.poll()

    assert [(t["id"], t["customer"]) for t in tickets(w)] == [
        (1, f"jane@{w.domain}"), (2, f"alice@{w.domain}"), (3, f"carol@{w.domain}")]
    w.wait_inbox("bob", 3)  # notified of both new tickets
    assert auto_responses(w, "alice") == []
    assert auto_responses(w, "carol") == []
    assert sorted(e.ticket_id for e in events(w, "auto_response_suppressed")) == [2, 3]
    assert events(w, "suspected_spoof") == []
