"""What our mail says about its author, and two mailticket installations writing to each
other: they behave like two people, never like two robots (design, "Never answer a
machine")."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest

from mailticket.clock import FixedClock
from mailticket.incoming.classify import Kind, classify
from mailticket.incoming.parse import parse
from mailticket.outgoing import compose
from mailticket.outgoing.kinds import KINDS
from tests.builders import reply
from tests.conftest import World, body, mail
from tests.test_core_flow import cli

pytestmark = pytest.mark.integration

MONDAY = datetime(2026, 11, 23, 9, 15, tzinfo=UTC)
FIXED = 'instance = "mailticket-test"\n'  # what the test worlds configure; removed here


def own_instance(w: World) -> World:
    """The world as a real installation runs it: no instance configured."""
    w.reconfigure(FIXED, "")
    return w


def test_every_kind_of_mail_says_whether_a_person_wrote_it(make_world):
    w = make_world(clock=FixedClock(MONDAY))
    w.reconfigure('escalate_to = ["lead@', 'copy_answers_to_agents = true\nescalate_to = ["lead@')
    w.deliver("support", mail(f"Jane <jane@{w.domain}>", w.addr("support"), "Printer",
                              "It smokes."))
    w.poll()
    [auto] = w.wait_inbox("jane", 1)
    [note] = w.wait_inbox("alice", 1)
    alice = f"alice@{w.domain}"
    for text in ("#note\nCheck the stock first.", "#bogus\nHello", "Please unplug it.\nAlice",
                 "#close"):
        w.deliver("support", reply(note, alice, text))
        w.poll()
    w.app.clock.advance(timedelta(days=3))  # the follow-up below is never answered
    w.deliver("support", mail(f"Jane <jane@{w.domain}>", w.addr("support"),
                              "Re: [Support #1] Printer", "Still smoking.",
                              in_reply_to=auto["Message-ID"]))
    w.poll()
    w.app.clock.advance(timedelta(days=3))
    assert w.app.escalator.run(w.app.clock.now()) > 0
    w.poll()

    jane = w.wait_inbox("jane", 3)
    bob = w.wait_inbox("bob", 4)
    [error] = [m for m in w.wait_inbox("alice", 3) if m["Subject"].startswith("Not sent")]
    [escalation] = w.wait_inbox("lead", 1)
    seen = {
        "auto-response": jane[0], "answer": jane[1], "closed notice": jane[2],
        "notification": bob[0], "note copy": bob[1], "answer copy": bob[2],
        "agent error": error, "escalation": escalation,
    }
    assert "Please unplug it." in body(jane[1]) and "Check the stock" in body(bob[1])
    assert {what: m["Auto-Submitted"] for what, m in seen.items()} == {
        "auto-response": "auto-replied", "closed notice": "auto-replied",
        "answer": None,  # a person's words
        "notification": "auto-generated", "note copy": "auto-generated",
        "answer copy": "auto-generated", "agent error": "auto-generated",
        "escalation": "auto-generated"}
    assert {m["X-Mailticket-Loop"] for m in seen.values()} == {"mailticket-test"}


def test_the_table_names_every_kind_a_person_or_a_machine():
    AUTO_SUBMITTED = {k.name: k.auto_submitted for k in KINDS.values()}
    assert {k for k, v in AUTO_SUBMITTED.items() if v is None} == {"agent"}
    assert set(AUTO_SUBMITTED.values()) == {None, "auto-replied", "auto-generated"}


def loop_mail(value: str) -> EmailMessage:
    return mail("Help <help@supplier.example>", "support@example.com", "Delivery",
                "Shipped today.", headers={compose.LOOP_HEADER: value})


def test_only_our_own_loop_header_is_ours():
    ours = compose.loop_instance(b"our secret")
    theirs = compose.loop_instance(b"their secret")
    assert ours != theirs and ours == compose.loop_instance(b"our secret")
    assert ours.startswith("mailticket-") and b"our secret".hex() not in ours
    assert compose.loop_instance(b"our secret", "desk-1") == "desk-1"  # configured wins
    own = frozenset({"support@example.com"})

    def verdict(value: str):
        return classify(parse(bytes(loop_mail(value))), own, compose.LOOP_HEADER, ours)

    assert (verdict(ours).kind, verdict(ours).rule) == (Kind.OWN, "loop_header")
    assert verdict(ours.upper()).kind is Kind.OWN
    assert verdict(theirs).kind is Kind.CUSTOMER  # another installation's agent answer
    assert verdict("mailticket").kind is Kind.CUSTOMER


def test_the_loop_header_is_derived_per_installation_and_kept(make_world, monkeypatch):
    monkeypatch.delenv("MAILTICKET_SECRET", raising=False)
    a, b = make_world(), make_world()
    for w in (a, b):  # no secret, no instance: both generated once, kept in the database
        w.reconfigure(f'secret = "test-secret-{w.domain}"\n', "")
        own_instance(w)
    first = a.app.pipeline.mailer.instance
    assert first != b.app.pipeline.mailer.instance
    assert first not in ("mailticket", "mailticket-test")
    a.reconfigure("[sla]", "[sla]")  # a restart reads it again: the same value
    assert a.app.pipeline.mailer.instance == first


def sent_to(w: World, local: str, sender: World) -> list[EmailMessage]:
    """What ``sender``'s installation sent into ``w``'s mailbox ``local``."""
    return [m for m in w.inbox(local) if sender.addr("support") in str(m["From"])
            and m[compose.LOOP_HEADER]]


def test_two_installations_talk_like_two_people(make_world):
    ours = own_instance(make_world(clock=FixedClock(MONDAY)))
    supplier = own_instance(make_world(clock=FixedClock(MONDAY)))
    desk = f"Supplier Help <{supplier.addr('support')}>"

    # A person at the supplier writes to us from the supplier's shared address.
    ours.deliver("support", mail(desk, ours.addr("support"), "Delivery 4711 is late",
                                 "Hello, when can we expect delivery 4711?"))
    ours.poll()
    [note] = ours.wait_inbox("alice", 1)
    supplier.wait_inbox("support", 1)  # our auto-response
    supplier.poll()  # a machine's mail: no ticket there, no answer to it

    # Our agent answers; the supplier's mailticket sees a person's mail.
    ours.deliver("support", reply(note, f"Alice <alice@{ours.domain}>",
                                  "It leaves our warehouse tomorrow.\nAlice"))
    ours.poll()
    supplier.wait_inbox("support", 2)
    supplier.poll()
    [theirs] = supplier.wait_inbox("alice", 1)  # the supplier's agent is told
    assert "It leaves our warehouse tomorrow." in body(theirs)
    assert theirs["Subject"] == "[Support #1] Delivery 4711 is late"

    # The supplier's agent answers in turn; our agents hear of it on our ticket.
    ours.wait_inbox("support", 2)  # the supplier's auto-response
    ours.poll()
    supplier.deliver("support", reply(theirs, f"Dave <alice@{supplier.domain}>",
                                      "Thank you, we will be ready.\nDave"))
    supplier.poll()
    ours.wait_inbox("support", 3)
    for _ in range(3):  # nothing else bounces between the two
        ours.poll()
        supplier.poll()

    to_them = sent_to(supplier, "support", ours)
    to_us = sent_to(ours, "support", supplier)
    assert [m["Auto-Submitted"] for m in to_them] == ["auto-replied", None]
    assert [m["Auto-Submitted"] for m in to_us] == ["auto-replied", None]
    assert "Thank you, we will be ready." in body(to_us[1])
    stamps = {m["X-Mailticket-Loop"] for m in to_them}, {m["X-Mailticket-Loop"] for m in to_us}
    assert len(stamps[0]) == len(stamps[1]) == 1 and stamps[0] != stamps[1]
    [update] = ours.wait_inbox("alice", 2)[1:]
    assert "Thank you, we will be ready." in body(update)
    assert update["Subject"] == "[Support #1] Delivery 4711 is late"
    for w in (ours, supplier):
        [t] = json.loads(cli(w, "tickets", "--json"))
        assert t["ref"] == "[Support #1]"


def test_our_own_mail_coming_back_is_still_ours(make_world):
    w = own_instance(make_world(clock=FixedClock(MONDAY)))
    w.deliver("support", mail(f"jane@{w.domain}", w.addr("support"), "Printer", "It smokes."))
    w.poll()
    [auto] = w.wait_inbox("jane", 1)
    # Jane's mail client forwards our auto-response back to us, headers and all.
    back = mail(f"jane-rule@{w.domain}", w.addr("support"), "Printer", "forwarded",
                headers={compose.LOOP_HEADER: auto[compose.LOOP_HEADER]})
    w.deliver("support", back)
    w.poll()
    assert len(json.loads(cli(w, "tickets", "--json"))) == 1
    assert w.inbox("jane-rule") == []
