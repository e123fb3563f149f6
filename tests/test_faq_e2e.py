"""The FAQ over the real mail servers: entries an admin added by the command line are
suggested in a French customer's auto-response (not in a Swedish customer's), an
agent's #faq reply keeps a draft, and a customer's SOLVED closes the ticket."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from mailticket.cli import main
from mailticket.clock import FixedClock
from mailticket.store.models import Event, Ticket
from tests.builders import reply
from tests.conftest import body, mail

pytestmark = pytest.mark.integration

MONDAY = datetime(2026, 11, 23, 9, 15, tzinfo=UTC)

TRACK_Q = "Comment suivre ma commande ?"
TRACK_A = "Le lien de suivi est dans l'e-mail d'expédition, et dans Mon compte > Commandes."


def faq(w, *args: str) -> str:
    r = CliRunner().invoke(main, ["--config", str(w.config_path), "faq", *args])
    assert r.exit_code == 0, r.output
    return r.output


def listed(w) -> list[dict]:
    return json.loads(faq(w, "list", "--json"))


def events(w, kind: str) -> list[Event]:
    with w.app.db.read() as s:
        return list(s.scalars(select(Event).where(Event.kind == kind).order_by(Event.id)))


def state(w, ticket_id: int) -> str:
    with w.app.db.read() as s:
        t = s.get(Ticket, ticket_id)
        assert t is not None
        return t.state


@pytest.fixture
def shop(make_world, db_url):
    w = make_world(db_url, clock=FixedClock(MONDAY))
    faq(w, "add", "-d", "support", "-l", "fr", "-q", TRACK_Q, "-a", TRACK_A)
    faq(w, "add", "-d", "support", "-l", "fr", "-q", "Comment retourner un article ?",
        "-a", "Imprimez l'étiquette de retour depuis Mon compte.")
    return w


def test_a_french_customer_is_suggested_the_entry_and_a_swedish_one_is_not(shop):
    w = shop
    w.deliver("support", mail(f"Marie <marie@{w.domain}>", w.addr("support"), "Commande 20331",
                              "Bonjour,\n\nj'ai passé commande lundi dernier pour un "
                              "anniversaire. Pourriez-vous me dire comment suivre ma commande "
                              "?\n\nMerci, Marie"))
    w.deliver("support", mail(f"Sven <sven@{w.domain}>", w.addr("support"), "Order 20332",
                              "Hej,\n\njag beställde i måndags. Hur kan jag spåra min "
                              "beställning? Det är en present.\n\nTack, Sven"))
    w.poll()
    [fr] = w.wait_inbox("marie", 1)
    text = body(fr)
    promise = text.index("Nous vous répondrons")
    assert promise < text.index(TRACK_Q) < text.index(TRACK_A) < text.index("RÉSOLU")
    assert "retourner" not in text
    [sv] = w.wait_inbox("sven", 1)
    assert TRACK_Q not in body(sv) and TRACK_A not in body(sv) and "LÖST" not in body(sv)
    assert "Du får svar från oss senast" in body(sv)
    # The agents are told what the customer was shown.
    notes = w.wait_inbox("alice", 2)
    [on_fr] = [n for n in notes if "20331" in str(n["Subject"])]
    [on_sv] = [n for n in notes if "20332" in str(n["Subject"])]
    entry = listed(w)[0]
    assert f"#{entry['id']} {TRACK_Q}" in body(on_fr)
    assert TRACK_Q not in body(on_sv)
    [suggested] = events(w, "faq_suggested")
    assert suggested.detail == {"entries": [entry["id"]]}
    assert [(e["question"], e["suggested"]) for e in listed(w)] == [
        (TRACK_Q, 1), ("Comment retourner un article ?", 0)]


def test_solved_closes_the_ticket_and_counts_for_the_entry(shop):
    w = shop
    w.deliver("support", mail(f"Marie <marie@{w.domain}>", w.addr("support"), "Suivi",
                              "Bonjour, comment suivre ma commande 20331 ? Elle devait "
                              "arriver hier. Merci"))
    w.poll()
    [auto] = w.wait_inbox("marie", 1)
    assert TRACK_A in body(auto)
    w.deliver("support", reply(auto, f"Marie <marie@{w.domain}>",
                               f"résolu, merci !\n\n> {TRACK_A}\n", to=w.addr("support")))
    w.poll()
    assert state(w, 1) == "closed"
    [solved] = events(w, "solved_by_faq")
    assert solved.ticket_id == 1 and solved.actor == f"marie@{w.domain}"
    assert [e["solved"] for e in listed(w)] == [1, 0]
    told = w.wait_inbox("alice", 2)[-1]
    assert "Résolu par la FAQ" in body(told) or "Solved by the FAQ" in body(told)
    assert len(w.inbox("marie")) == 1, "the customer gets no further mail"
    r = CliRunner().invoke(main, ["--config", str(w.config_path), "report", "--since",
                                  "2026-11-01", "--until", "2026-12-01", "--json"])
    assert r.exit_code == 0, r.output
    [support] = [d for d in json.loads(r.output)["departments"] if d["department"] == "support"]
    assert support["solved_by_faq"] == 1


def test_solved_without_a_suggestion_is_an_ordinary_follow_up(shop):
    w = shop
    w.deliver("support", mail(f"Marie <marie@{w.domain}>", w.addr("support"), "Facture",
                              "Bonjour, il me faut une facture avec notre numéro de TVA "
                              "pour la comptabilité."))
    w.poll()
    [auto] = w.wait_inbox("marie", 1)
    w.deliver("support", reply(auto, f"Marie <marie@{w.domain}>", "Résolu ? Pas encore.",
                               to=w.addr("support")))
    w.poll()
    assert state(w, 1) == "open"
    assert events(w, "solved_by_faq") == []


def test_an_agents_faq_reply_is_relayed_and_kept_as_a_draft(shop):
    w = shop
    w.deliver("support", mail(f"Marie <marie@{w.domain}>", w.addr("support"),
                              "Cadeau", "Bonjour,\n\npouvez-vous emballer ma commande "
                              "comme cadeau, avec un petit mot ?\n\nMarie"))
    w.poll()
    [note] = w.wait_inbox("alice", 1)
    answer = "Bonjour Marie,\n\noui : cochez « emballage cadeau » au moment de payer.\n\nAlice"
    quoted = "\n".join("> " + line for line in body(note).splitlines())
    w.deliver("support", reply(note, f"Alice <alice@{w.domain}>",
                               f"#faq\n\n{answer}\n\nLe lun. 23 nov. 2026, Marie a écrit :\n"
                               f"{quoted}\n"))
    w.poll()
    relayed = w.wait_inbox("marie", 2)[-1]
    assert body(relayed).startswith(answer) and "#faq" not in body(relayed)
    [draft] = [e for e in listed(w) if e["state"] == "draft"]
    assert (draft["department"], draft["language"]) == ("support", "fr")
    assert draft["question"] == ("Bonjour,\n\npouvez-vous emballer ma commande comme cadeau, "
                                 "avec un petit mot ?\n\nMarie")
    assert draft["answer"] == answer
    shown = json.loads(faq(w, "show", str(draft["id"]), "--json"))
    assert (shown["origin"], shown["origin_agent"], shown["origin_ticket"]) == (
        "agent", f"alice@{w.domain}", 1)
    faq(w, "publish", str(draft["id"]))
    assert [e["state"] for e in listed(w)] == ["published"] * 3
