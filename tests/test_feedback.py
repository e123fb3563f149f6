"""Ask how we did: the question after a close, the grade from the customer's reply, the
figures in ``report --json`` — over the real Dovecot and SMTP servers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from mailticket import actions
from mailticket.cli import main
from mailticket.clock import FixedClock
from mailticket.store.writes import writing
from tests.builders import reply
from tests.conftest import body, mail

pytestmark = pytest.mark.integration

MONDAY = datetime(2026, 11, 23, 9, 15, tzinfo=UTC)  # 10:15 in Paris
FEEDBACK = '[feedback]\nenabled = true\ndelay = "3 hours"\nper_customer = "30 days"\n'
QUESTION_FR = "Êtes-vous satisfait de notre réponse"


def cli(w, *args: str) -> str:
    r = CliRunner().invoke(main, ["--config", str(w.config_path), *args])
    assert r.exit_code == 0, r.output
    return r.output


def ticket(w, customer: str, subject: str, text: str):
    """A customer's mail, its auto-response read, the agents' notification returned."""
    w.deliver("support", mail(customer, w.addr("support"), subject, text))
    w.poll()
    return [n for n in w.wait_inbox("alice", 1) if subject in n["Subject"]][-1]


def answer_and_close(w, note, text: str) -> None:
    w.deliver("support", reply(note, f"alice@{w.domain}", f"#close\n{text}"))
    w.poll()


def later(w, delta: timedelta) -> int:
    """Time passes; the daemon's job asks what is due; the outbox sends it."""
    w.app.clock.advance(delta)
    asked = w.app.asker.run(w.app.clock.now())
    w.poll()
    return asked


def questions(w, local: str) -> list:
    return [m for m in w.inbox(local) if QUESTION_FR in body(m) or "How did we do" in body(m)]


def world(make_world, db_url: str | None = None):
    return make_world(db_url=db_url, clock=FixedClock(MONDAY), extra=FEEDBACK)


def test_french_customer_is_asked_after_the_delay_and_the_grade_is_reported(make_world, db_url):
    w = world(make_world, db_url)
    customer = f"amelie@{w.domain}"
    note = ticket(w, customer, "Mon imprimante ne fonctionne plus",
                  "Bonjour,\n\ndepuis hier mon imprimante refuse d'imprimer quoi que ce soit. "
                  "Pourriez-vous m'aider, s'il vous plaît ?\n\nMerci, Amélie")
    answer_and_close(w, note, "Bonjour Amélie, débranchez-la dix secondes puis rebranchez-la.")
    assert later(w, timedelta(hours=2)) == 0  # the delay has not passed: nothing yet
    assert questions(w, "amelie") == []
    assert later(w, timedelta(hours=1, minutes=1)) == 1
    [question] = questions(w, "amelie")
    assert question["Content-Language"] == "fr"
    assert question["Auto-Submitted"] == "auto-generated"
    assert "de 1 (mauvais) à 5 (excellent)" in body(question)
    assert later(w, timedelta(hours=5)) == 0  # asked once, never again

    mails_before = len(w.inbox("amelie"))
    w.deliver("support", reply(question, customer, "4 — merci, rapide\n\n> Êtes-vous satisfait ?",
                               to=w.addr("support")))
    w.poll()
    t = json.loads(cli(w, "show", "1", "--json"))
    assert t["state"] == "closed"  # a grade is not a question: the ticket stays closed
    assert t["messages"][-1]["kind"] == "feedback"
    assert len(w.inbox("amelie")) == mails_before  # no auto-response, nothing
    since = (MONDAY - timedelta(days=1)).date().isoformat()
    until = (MONDAY + timedelta(days=2)).date().isoformat()
    [support, _] = json.loads(cli(w, "report", "--since", since, "--until", until,
                                  "--json"))["departments"]
    f = support["feedback"]
    assert (f["asked"], f["answered"], f["mean"]) == (1, 1, 4)
    assert f["by_grade"] == {"1": 0, "2": 0, "3": 0, "4": 1, "5": 0}
    assert f["agents"] == [{"agent": f"alice@{w.domain}", "asked": 1, "answered": 1,
                            "response_rate": 1.0, "mean": 4, "by_grade": f["by_grade"]}]
    assert "feedback: asked 1, answered 1 (100 %), mean 4.0 of 5" in cli(
        w, "report", "--since", since, "--until", until)


def test_a_reopen_within_the_delay_cancels_the_question(make_world):
    w = world(make_world)
    customer = f"ann@{w.domain}"
    note = ticket(w, customer, "Printer stopped", "Hello, my printer stopped. Help, please?")
    answer_and_close(w, note, "Please restart it.")
    [answer] = [m for m in w.inbox("ann") if "Please restart it." in body(m)]
    w.app.clock.advance(timedelta(hours=1))
    w.deliver("support", reply(answer, customer, "It is still broken, sorry.",
                               to=w.addr("support")))
    w.poll()
    assert json.loads(cli(w, "show", "1", "--json"))["state"] == "open"
    assert later(w, timedelta(hours=4)) == 0
    assert questions(w, "ann") == []


def test_no_question_for_a_ticket_closed_without_an_answer(make_world):
    w = world(make_world)
    ticket(w, f"bo@{w.domain}", "Spam?", "Hello, is this the right address for orders?")
    with w.app.db.transaction() as s, writing(s) as ws:
        actions.close(ws, 1, w.app.clock.now())
    assert later(w, timedelta(hours=4)) == 0
    assert questions(w, "bo") == []


def test_a_robots_auto_reply_to_the_question_is_not_a_grade(make_world):
    w = world(make_world)
    customer = f"eva@{w.domain}"
    note = ticket(w, customer, "Invoice copy", "Hello, could you send me a copy of my invoice?")
    answer_and_close(w, note, "Here it is.")
    assert later(w, timedelta(hours=3, minutes=1)) == 1
    [question] = questions(w, "eva")
    w.deliver("support", reply(question, customer, "5\n\nI am out of the office until Monday.",
                               to=w.addr("support"), headers={"Auto-Submitted": "auto-replied"}))
    w.poll()
    t = json.loads(cli(w, "show", "1", "--json"))
    assert t["state"] == "closed"
    assert [m["kind"] for m in t["messages"]][-1] == "auto_reply"
    with w.app.db.read() as s:
        from zoneinfo import ZoneInfo

        from mailticket.feedback.figures import feedback

        f = feedback(s, "support", MONDAY - timedelta(days=1), MONDAY + timedelta(days=2),
                     ZoneInfo("Europe/Paris"))
    assert (f["asked"], f["answered"]) == (1, 0)


def test_a_new_question_in_reply_to_the_question_reopens_the_ticket(make_world):
    w = world(make_world)
    customer = f"lu@{w.domain}"
    note = ticket(w, customer, "Password", "Hello, how do I change my password?")
    answer_and_close(w, note, "Settings, then Security.")
    assert later(w, timedelta(hours=3, minutes=1)) == 1
    [question] = questions(w, "lu")
    w.deliver("support", reply(question, customer, "2 questions more: where is Settings?",
                               to=w.addr("support")))
    w.poll()
    assert json.loads(cli(w, "show", "1", "--json"))["state"] == "open"


def test_one_question_per_customer_per_period(make_world):
    w = world(make_world)
    customer = f"kim@{w.domain}"
    first = ticket(w, customer, "First thing", "Hello, where is my order 1001?")
    answer_and_close(w, first, "It left today.")
    assert later(w, timedelta(hours=3, minutes=1)) == 1
    second = ticket(w, customer, "Second thing", "Hello, and where is my order 1002?")
    answer_and_close(w, second, "That one too.")
    assert later(w, timedelta(hours=3, minutes=1)) == 0  # asked 3 hours ago: not again
    assert len(questions(w, "kim")) == 1
