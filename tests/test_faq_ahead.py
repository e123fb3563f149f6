"""A parse worker matches new mail against the daemon's FAQ indexes ahead of the writer
(``faq.ahead``): customers see what the daemon's own match would have shown, and the
daemon takes a worker's answer only from its current index of the ticket's department
and language."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from mailticket.cli import main
from mailticket.clock import FixedClock
from mailticket.faq import entries
from mailticket.faq.ahead import Ahead, Offer, Shelves
from mailticket.faq.exchange import NewEntry
from mailticket.faq.suggest import Shelf, Suggestions
from mailticket.ingest.workers import _Fetcher
from mailticket.mail.subject import stored_subject
from mailticket.search.analyzer import mail_terms
from mailticket.store.writes import Writes
from tests.conftest import body, mail
from tests.corpora import HELPDESK_DOMAIN, throwaway_app
from tests.test_faq_quality import DATA, LANGUAGES

NOW = datetime(2026, 11, 23, 9, 15, tzinfo=UTC)
TRACK_Q = "Comment suivre ma commande ?"
TRACK_A = "Le lien de suivi est dans l'e-mail d'expédition, et dans Mon compte > Commandes."
ASKS = "Bonjour, pourriez-vous me dire comment suivre ma commande ? Merci, Marie"


def test_a_worker_matches_the_set_as_the_daemon_does(tmp_path):
    """Over the multilingual quality set: for every mail whose language the worker
    detected, its match is the daemon's match of the ticket's subject and text."""
    app = throwaway_app(tmp_path)
    langs = app.config.languages
    worker = _Fetcher(sorted(langs.supported), langs.low_memory, langs.min_confidence,
                      sorted(app.config.own_addresses), app.pipeline.mailer.instance,
                      {d.key: d.name for d in app.config.departments})
    shelves, raws, n = {}, [], 0
    for lang in LANGUAGES:
        data = tomllib.loads((DATA / f"{lang}.toml").read_text(encoding="utf-8"))
        rows = [(n := n + 1, e["question"], e["answer"]) for e in data["faq"]]
        shelves[lang] = Shelf.build(rows, lang, version=(len(rows), lang))
        raws += [bytes(mail(f"c{i}@customer.example", f"support@{HELPDESK_DOMAIN}",
                            m["subject"], m["body"])) for i, m in enumerate(data["mail"])]
    worker.shelves.take({("support", lang): Offer(s.version, s.index, 2)
                         for lang, s in shelves.items()})
    matched = shown = 0
    for p in worker.prepare_all(raws, "sales"):  # the To address wins over the mailbox
        if p.language is None:
            assert p.faq is None
            continue
        lang = p.language[0]
        assert p.faq is not None and p.faq.department == "support"
        assert (p.faq.language, p.faq.version) == (lang, shelves[lang].version)
        here = shelves[lang].suggest_terms(
            mail_terms(stored_subject(p.mail.subject), p.mail.text, lang), 2)
        assert list(p.faq.entry_ids) == [s.entry_id for s in here], p.mail.subject
        matched += 1
        shown += bool(here)
    assert matched >= 0.8 * len(raws) and shown >= 0.4 * len(raws)


def test_a_plus_address_is_its_departments_and_an_unknown_one_the_mailboxs():
    shelves = Shelves({"support@desk.example": "support", "sales@desk.example": "sales"})
    assert shelves.department(["x@other.example", "Sales+12-abc@Desk.example"],
                              "support") == "sales"
    assert shelves.department(["x@other.example"], "support") == "support"


def test_only_a_match_of_the_current_index_of_the_tickets_department_is_taken(tmp_path):
    app = throwaway_app(tmp_path)
    with app.db.transaction() as s:
        entries.add(s, NewEntry("support", "fr", TRACK_Q, TRACK_A, "published"), NOW)
    faq = Suggestions(2)
    with app.db.transaction() as s:
        current = faq.shelf(s, "support", "fr").version

    def shown(ahead: Ahead) -> list[str]:
        with app.db.transaction() as s:
            return [x.question for x in faq.for_new_ticket(
                Writes(s), 1, "support", "fr", ASKS, NOW, subject="Commande", ahead=ahead)]

    # The worker found nothing with the current index: nothing is shown, no second look.
    assert shown(Ahead("support", "fr", current, ())) == []
    # An older index, another department's or another language's: matched here again.
    assert shown(Ahead("support", "fr", (0, None), ())) == [TRACK_Q]
    assert shown(Ahead("sales", "fr", current, ())) == [TRACK_Q]
    assert shown(Ahead("support", "sv", current, ())) == [TRACK_Q]


@pytest.mark.integration
def test_new_mail_is_matched_in_the_worker_once_the_daemon_offered_its_index(
        make_world, monkeypatch):
    w = make_world(clock=FixedClock(NOW), extra="[ingest]\nparse_workers = 1")
    r = CliRunner().invoke(main, ["--config", str(w.config_path), "faq", "add", "-d",
                                  "support", "-l", "fr", "-q", TRACK_Q, "-a", TRACK_A])
    assert r.exit_code == 0, r.output
    # The first French mail builds the daemon's index, which goes to the worker.
    w.deliver("support", mail(f"Marie <marie@{w.domain}>", w.addr("support"), "Commande",
                              ASKS))
    w.poll()
    assert TRACK_Q in body(w.wait_inbox("marie", 1)[0])
    assert w.app.parser.pids()

    def not_here(*args: object) -> None:
        raise AssertionError("the daemon matched a mail the worker had matched")

    monkeypatch.setattr(Shelf, "suggest_terms", not_here)
    w.deliver("support", mail(f"Paul <paul@{w.domain}>", w.addr("support"), "Colis",
                              "Bonjour, comment je peux suivre ma commande, svp ? Paul"))
    w.deliver("support", mail(f"Lea <lea@{w.domain}>", w.addr("support"), "Facture",
                              "Bonjour, il me faut une facture avec notre numéro de TVA "
                              "pour la comptabilité. Léa"))
    w.poll()
    assert TRACK_A in body(w.wait_inbox("paul", 1)[0])
    assert TRACK_Q not in body(w.wait_inbox("lea", 1)[0])
