"""`faq candidates`: five customers asking one question in their own words form one
cluster; a mail about something else does not join it; per language, largest first."""

from __future__ import annotations

import json
import mailbox
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

from sqlalchemy import update

from mailticket.search.analyzer import terms
from mailticket.search.clusters import Question, candidates, cluster, draft_answer
from mailticket.store.models import Question as Row
from mailticket.store.models import Ticket
from tests.builders import mail, reply
from tests.corpora import HELPDESK_DOMAIN, throwaway_app

SUPPORT = f"support@{HELPDESK_DOMAIN}"

PARAPHRASES = [
    ("Password reset", "Hello, how do I reset my password? I cannot log in any more."),
    ("Forgot my password", "Hi, I forgot my password. How can I reset it so that I can "
                           "log in again?"),
    ("Reset link", "The password reset link you sent me does not work, it says expired. "
                   "Can you reset my password?"),
    ("Login problem", "I can't log in to the shop, I think I lost my password. "
                      "Please help me reset it."),
    ("New password", "Good morning, can you send me a new password? My old password is "
                     "not accepted when I log in."),
]
OTHERS = [
    ("Parcel late", "Hello, my parcel has not arrived yet, the tracking shows no update "
                    "since Monday. When will it be delivered?"),
    ("Wrong size", "I received the shoes in the wrong size, can I exchange them for a "
                   "larger pair?"),
    ("Invoice", "Could you send me an invoice with my company address for order 5521?"),
    ("Coupon", "The discount code from your newsletter is refused at checkout."),
    ("Parcel lost", "My parcel seems to be lost, the tracking has not moved for ten days."),
    ("Gift wrap", "Do you offer gift wrapping for a birthday present?"),
    # Shares "log" and "account" with the question, but asks something else.
    ("Close my account", "Please delete my account and all my data, I do not want to "
                         "log in ever again."),
]
# What else a shop's customers ask in a period, each once: the background a question's
# words are weighed against (a word in every other mail says little).
BACKGROUND = [
    "Can you tell me when the blue sofa will be back in stock?",
    "I would like to change the delivery address of my last order, is that still possible?",
    "Do you ship to Norway and how much does it cost?",
    "The colour of the curtains is not the one on the picture, can I send them back?",
    "Is there a shop in Lyon where I can see the table before I buy it?",
    "My order arrived with a broken leg on the chair, what should I do now?",
    "Can I pay with an invoice instead of a card this time?",
    "I got two confirmation mails for one order, will I be charged twice?",
    "Which size should I take for the jacket, I am usually between M and L?",
    "Could you help me find a matching lamp for the desk I bought last month?",
    "The assembly instructions for the wardrobe are missing from the box.",
    "Do you have a student discount or any offer at the moment?",
    "How long is the warranty on the coffee machine?",
    "I want to cancel my order from yesterday, it has not shipped yet I think.",
    "The courier left my parcel at a neighbour I do not know, who can I ask?",
    "Is the wooden bench suitable for outdoor use in winter?",
    "Please send me the receipt again, I cannot find the mail any more.",
    "Can I collect my order at your warehouse instead of waiting for delivery?",
    "The mattress smells strange after unpacking, is that normal and will it go away?",
    "I need the dimensions of the bookshelf in centimetres, the page says only inches.",
    "Why was my card refused when I tried to pay today?",
    "Do you sell spare parts for the office chair, one wheel is broken?",
    "Could you tell me if the rug can be washed in a machine?",
    "I ordered the wrong colour of towels, can I exchange them for white ones?",
    "Will there be a sale after Christmas this year?",
    "The refund for my returned shoes has not reached my bank after two weeks.",
    "Is it possible to get the kitchen table in a longer version?",
    "My newsletter comes in German but I want it in English, how can I change that?",
    "Do you plant a tree for every order as your page says?",
    "The glass of the picture frame was cracked when I opened the parcel.",
]


def _q(i: int, text: str, language: str = "en") -> Question:
    return Question(i, language, list(dict.fromkeys(terms(text, language))))


def test_paraphrases_form_one_cluster_and_other_questions_stay_out():
    mails = PARAPHRASES + OTHERS + [("Hello", t) for t in BACKGROUND]
    questions = [_q(i, f"{s} {t}") for i, (s, t) in enumerate(mails)]
    found = cluster(questions)
    sizes = sorted((sorted(c.members) for c in found), key=len, reverse=True)
    assert sizes[0] == [0, 1, 2, 3, 4]
    assert all(len(c) < 5 for c in sizes[1:])


def test_questions_in_different_languages_are_never_one_cluster():
    same = "Hello, how do I reset my password? I cannot log in."
    found = cluster([_q(1, same), _q(2, same), _q(3, same, "fr"), _q(4, same, "fr")])
    assert sorted(sorted(c.members) for c in found) == [[1, 2], [3, 4]]
    assert {c.language for c in found} == {"en", "fr"}


def test_a_word_nobody_else_wrote_brings_no_one_together():
    found = cluster([_q(1, "zebra crossing"), _q(2, "zebra pattern"), _q(3, "giraffe")])
    assert [sorted(c.members) for c in found if len(c.members) > 1] == [[1, 2]]


def test_the_draft_is_the_answer_most_like_the_others():
    answers = ["Click 'forgot password' on the login page and follow the link we mail you.",
               "Use 'forgot password' on the login page: we mail you a link.",
               "Our shop is closed on Sundays.",
               "On the login page, click 'forgot password'; the mail has a link."]
    got = draft_answer([(a, terms(a, "en")) for a in answers])
    assert got != answers[2]
    assert draft_answer([]) == ""


def answer_as_agent(app, sent: Path, ticket: int, text: str) -> None:
    """Alice answers the notification of ``ticket`` from her mail client."""
    while app.outbox.deliver().sent:
        pass
    box = mailbox.Maildir(sent, create=False)
    notes = [m for m in (message_from_bytes(box.get_bytes(k), policy=policy.default)
                         for k in box.iterkeys())
             if f"#{ticket}]" in str(m["Subject"]) and "alice@" in str(m["To"])]
    assert notes, f"no notification of ticket {ticket} to alice"
    out = app.ingest(bytes(reply(notes[0], f"alice@{HELPDESK_DOMAIN}", text)),
                     department="support", source="test")
    assert out.action.startswith("agent"), out


def _desk(tmp_path: Path, db_url: str | None):
    app = throwaway_app(tmp_path / "desk", url=db_url)
    tickets = []
    for i, (subject, text) in enumerate(PARAPHRASES + OTHERS
                                        + [("Hello", t) for t in BACKGROUND]):
        out = app.ingest(bytes(mail(f"c{i}@customer.example", SUPPORT, subject, text)),
                         department="support", source="test")
        tickets.append(out.ticket_id)
    return app, tickets


def test_candidates_over_stored_mail_with_the_agents_answer_as_draft(tmp_path, db_url):
    app, tickets = _desk(tmp_path, db_url)
    answer = ("Hi, on the login page click 'Forgot password' and we mail you a link to "
              "choose a new one.")
    for tid in tickets[:3]:
        answer_as_agent(app, tmp_path / "desk" / "sent", tid, answer)
    answer_as_agent(app, tmp_path / "desk" / "sent", tickets[3], "Sorry to hear that.")
    since = datetime.now(UTC) - timedelta(days=90)
    with app.db.read() as s:
        found = candidates(s, app.config, None, since, 3)
        assert candidates(s, app.config, "support", datetime.now(UTC) + timedelta(days=1),
                          1) == []
        # A published FAQ entry answering the cluster leaves it out, and it alone.
        rest = candidates(s, app.config, None, since, 3,
                          answered=lambda dept, lang, keys: "password" in keys)
    assert found[0]["tickets"] not in [c["tickets"] for c in rest]
    assert len(rest) == len(found) - 1
    top = found[0]
    assert top["size"] == 5 and top["language"] == "en"
    assert top["tickets"] == sorted(tickets[:5])
    assert set(top["subjects"]) <= {s for s, _ in PARAPHRASES} and len(top["subjects"]) == 5
    assert top["draft_answer"] == answer
    app.close()


def test_faq_candidates_command(tmp_path):
    app, tickets = _desk(tmp_path, None)
    app.close()
    config = tmp_path / "desk" / "config.toml"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "mailticket", "--config", str(config),
                               "faq", "candidates", *args], capture_output=True, text=True)

    done = cli("--json", "--min", "4", "--days", "30")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert [c["size"] for c in out["clusters"]] == [5]
    assert set(out["clusters"][0]) >= {"size", "language", "subjects", "tickets",
                                       "draft_answer"}
    done = cli("--days", "0")
    assert done.returncode == 2 and "--days" in done.stderr
    done = cli("--department", "nowhere")
    assert done.returncode == 2 and "--department" in done.stderr


def test_each_departments_cluster_shows_its_own_tickets_subjects(tmp_path):
    """Two departments whose customers ask the same: each cluster's examples are
    subjects of its own tickets (the clusters of two departments once shared numbers,
    and so one another's examples)."""
    app, tickets = _desk(tmp_path, None)
    sales = []
    for i, (_, text) in enumerate(PARAPHRASES):
        out = app.ingest(bytes(mail(f"s{i}@customer.example", SUPPORT, f"Shop account {i}",
                                    text)), department="support", source="test")
        sales.append(out.ticket_id)
    with app.db.transaction() as s:  # as if they had come to a sales mailbox
        for table in (Ticket, Row):
            column = table.id if table is Ticket else table.ticket_id
            s.execute(update(table).where(column.in_(sales)).values(department="sales"))
    with app.db.read() as s:
        found = candidates(s, app.config, None, datetime.now(UTC) - timedelta(days=1), 5)
    by_department = {c["department"]: c for c in found}
    assert by_department["support"]["tickets"] == sorted(tickets[:5])
    assert by_department["sales"]["tickets"] == sorted(sales)
    assert set(by_department["support"]["subjects"]) == {s for s, _ in PARAPHRASES}
    assert set(by_department["sales"]["subjects"]) == {f"Shop account {i}" for i in range(5)}
    app.close()


def test_a_question_asked_on_the_periods_first_instant_is_in_it(tmp_path, db_url):
    """The period's bounds compare with what the index stored: a question asked at
    10:00:00 sharp belongs to the period from 10:00:00 and not to the one before it."""
    from mailticket.clock import FixedClock

    app = throwaway_app(tmp_path / "desk", url=db_url)
    sharp = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    app.clock = FixedClock(sharp)
    for i, (subject, text) in enumerate(PARAPHRASES):
        app.ingest(bytes(mail(f"c{i}@customer.example", SUPPORT, subject, text)),
                   department="support", source="test")
    with app.db.read() as s:
        assert [c["size"] for c in candidates(s, app.config, None, sharp, 5)] == [5]
        assert candidates(s, app.config, None, sharp - timedelta(days=1), 1,
                          until=sharp) == []
    app.close()
