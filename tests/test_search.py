"""`mailticket search`: a ticket is found by an inflected form of one of its words, in
each of the six languages, on SQLite (FTS5) and PostgreSQL (tsvector); the index is
written in the mail's own transaction, and `db upgrade` indexes the mail stored before."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import insert, select

from mailticket.search.analyzer import LANGUAGES, query_terms, terms
from mailticket.search.query import search, snippet
from mailticket.store.db import Database
from mailticket.store.models import Message, Ticket
from tests.builders import config_toml, department, mail, maildir
from tests.corpora import HELPDESK_DOMAIN, throwaway_app
from tests.test_clusters import answer_as_agent

SUPPORT = f"support@{HELPDESK_DOMAIN}"

# (language, subject, text, a query word in another inflected form than the text's)
MAILS = [
    ("en", "Cannot log in",
     "Hello, I forgot the password of my account and the reset link in your mail does "
     "not work. Could you help me log in again? Thank you very much.", "passwords"),
    ("fr", "Où est mon colis ?",
     "Bonjour, j'ai passé une commande il y a deux semaines et je n'ai toujours rien "
     "reçu. Pouvez-vous me dire où se trouve mon colis ? Merci beaucoup.", "commandes"),
    ("sv", "Fel storlek",
     "Hej, jag fick fel storlek på tröjan i beställningen som kom i går. Hur gör jag "
     "för att byta den mot en större? Tack på förhand.", "beställningar"),
    ("es", "Factura incorrecta",
     "Hola, la factura que recibí ayer tiene una dirección equivocada y necesito que "
     "la corrijan para mi empresa. Muchas gracias por su ayuda.", "facturas"),
    ("de", "Rückerstattung fehlt",
     "Guten Tag, ich habe die Jacke vor drei Wochen zurückgeschickt, aber die "
     "Erstattung ist noch nicht auf meinem Konto. Wann bekomme ich mein Geld?",
     "Erstattungen"),
    ("bg", "Не мога да вляза",
     "Здравейте, забравих паролата за профила си и не мога да вляза в магазина. "
     "Можете ли да ми помогнете да я сменя? Благодаря предварително.", "пароли"),
]


def _ingest(app, sender: str, subject: str, text: str) -> int:
    outcome = app.ingest(bytes(mail(sender, SUPPORT, subject, text)), department="support",
                         source="test")
    assert outcome.ticket_id is not None, outcome
    return outcome.ticket_id


@pytest.fixture
def desk(tmp_path: Path, db_url: str | None):
    app = throwaway_app(tmp_path / "desk", url=db_url)
    tickets = {lang: _ingest(app, f"c-{lang}@customer.example", subject, text)
               for lang, subject, text, _ in MAILS}
    yield app, tickets
    app.close()


@pytest.mark.parametrize(("language", "word"), [(m[0], m[3]) for m in MAILS])
def test_a_ticket_is_found_by_an_inflected_word_in_its_language(desk, language, word):
    app, tickets = desk
    with app.db.read() as s:
        assert s.get(Ticket, tickets[language]).language == language
        hits = search(s.connection(), word)
    assert [h.ticket for h in hits] == [tickets[language]]
    assert hits[0].score > 0
    assert hits[0].snippet  # the customer's own words around the match


def test_every_word_of_the_query_must_match_and_filters_apply(desk):
    app, tickets = desk
    with app.db.read() as s:
        conn = s.connection()
        assert [h.ticket for h in search(conn, "forgotten password")] == [tickets["en"]]
        assert search(conn, "password invoice") == []
        assert search(conn, "password", state="closed") == []
        assert [h.ticket for h in search(conn, "password", state="new")] == [tickets["en"]]
        assert search(conn, "the and of") == []  # stop words only: nothing to look for


def test_the_subject_weighs_more_than_the_text(tmp_path, db_url):
    app = throwaway_app(tmp_path / "w", url=db_url)
    for i, topic in enumerate(("my invoice is wrong", "the parcel is late", "a coupon")):
        _ingest(app, f"other{i}@customer.example", "Hello", f"Hello, {topic}, thanks.")
    in_text = _ingest(app, "a@customer.example", "A question",
                      "Hello, my printer makes a strange noise when it starts every "
                      "morning, is that normal for this model?")
    in_subject = _ingest(app, "b@customer.example", "Printer noise",
                         "Hello, the machine I bought makes a strange sound every morning "
                         "when it starts, is that normal for this model?")
    with app.db.read() as s:
        hits = search(s.connection(), "printers")
    assert [h.ticket for h in hits] == [in_subject, in_text]
    assert hits[0].score > hits[1].score
    app.close()


def test_a_stored_mail_is_searchable_in_its_own_transaction_and_gone_with_it(tmp_path,
                                                                             db_url):
    app = throwaway_app(tmp_path / "t", url=db_url)
    raw = bytes(mail("jane@customer.example", SUPPORT, "Broken zipper",
                     "Hello, the zipper of the jacket I received broke on the first day."))

    class RolledBack(Exception):
        pass

    with pytest.raises(RolledBack), app.db.transaction() as s:
        outcome = app.pipeline.process(s, raw, mailbox_department="support", source="test")
        hits = search(s.connection(), "zippers")
        assert [h.ticket for h in hits] == [outcome.ticket_id]
        raise RolledBack
    with app.db.read() as s:
        assert search(s.connection(), "zipper") == []
    app.close()


def test_agents_answers_are_searchable_and_our_own_mails_are_not(tmp_path):
    app = throwaway_app(tmp_path / "a")
    asked = "Hello, when will my parcel arrive? I ordered it last Monday."
    answered = "Hi Jane, the courier scanned it this morning in Lyon: tomorrow."
    ticket = _ingest(app, "jane@customer.example", "Delivery", asked)
    with app.db.read() as s:
        note = s.scalars(select(Message).where(Message.kind == "notification")).first()
        auto = s.scalars(select(Message).where(Message.kind == "auto_response")).first()
    assert note is not None and auto is not None
    answer_as_agent(app, tmp_path / "a" / "sent", ticket, answered)
    with app.db.read() as s:
        assert s.scalars(select(Message.kind).where(Message.text.contains("Lyon"),
                                                Message.direction == "in")).all() == [
            "agent"]
    people = {t for lang in LANGUAGES for t in terms(f"Delivery {asked} {answered}", lang)}
    ours = [w for w in dict.fromkeys(re.findall(r"[^\W\d_]{5,}", auto.text + note.text))
            if not {t for group in query_terms(w) for t in group} & people]
    assert len(ours) >= 5
    with app.db.read() as s:
        conn = s.connection()
        assert [h.ticket for h in search(conn, "couriers Lyon")] == [ticket]
        for word in ours:  # words only the auto-response and the notification hold
            assert search(conn, word) == [], word
    app.close()


def test_snippet_shows_the_customers_words_around_the_match():
    text = ("Hello, I bought a jacket in your shop last week. " * 3
            + "Unfortunately the zipper broke the first time I wore it. " + "Regards " * 30)
    got = snippet(text, [["zipper"]], "en", width=80)
    assert "zipper broke" in got
    assert got.startswith("…") and got.endswith("…")
    assert len(got) <= 82
    assert snippet("nothing here", [["zipper"]], "en") == ""


def _cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mailticket", "--config", str(config), *args],
                          capture_output=True, text=True)


def test_db_upgrade_indexes_the_mail_stored_before(tmp_path, db_url):
    url = db_url or f"sqlite:///{tmp_path}/old.db"
    old = Database(url)
    command.upgrade(old._alembic(), "0005")  # the schema before the index
    now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    with old.engine.begin() as conn:
        conn.execute(insert(Ticket.__table__).values(
            id=7, department="support", subject="Coupon code", customer="j@customer.example",
            customer_name="", state="open", priority="normal", language="fr",
            created_at=now, updated_at=now, escalation_level=0))
        conn.execute(insert(Message.__table__).values(
            ticket_id=7, direction="in", kind="customer", message_id="<old@customer.example>",
            references=[], from_addr="j@customer.example", from_name="", to=[], cc=[],
            subject="Code promo", date=now, attachments=[], verdict="", source="test",
            raw=b"", text="Bonjour, mon code promo ne fonctionne pas sur votre site."))
    old.dispose()
    config = tmp_path / "config.toml"
    config.write_text(config_toml(database={"url": url}, outgoing=maildir(tmp_path),
                                  departments=[department("support", HELPDESK_DOMAIN)]))
    done = _cli(config, "db", "upgrade")
    assert done.returncode == 0, done.stderr
    done = _cli(config, "search", "--json", "codes")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert [h["ticket"] for h in out["hits"]] == [7]
    hit = out["hits"][0]
    assert set(hit) == {"ticket", "ref", "subject", "score", "snippet"}
    assert hit["ref"] == "[Support #7]" and hit["subject"] == "Coupon code"
    assert "mon code promo" in hit["snippet"]


def test_search_command_says_what_is_wrong(tmp_path):
    app = throwaway_app(tmp_path / "c")
    app.close()
    config = tmp_path / "c" / "config.toml"
    done = _cli(config, "search", "--state", "lost", "x")
    assert done.returncode == 2 and "--state" in done.stderr
    done = _cli(config, "search", "--department", "nowhere", "x")
    assert done.returncode == 2 and "--department" in done.stderr
    done = _cli(config, "search", "--limit", "0", "x")
    assert done.returncode == 2 and "--limit" in done.stderr
    done = _cli(config, "search", "--json", "unknownword")
    assert done.returncode == 0 and json.loads(done.stdout)["hits"] == []
