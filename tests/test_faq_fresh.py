"""A running daemon's FAQ suggestions follow the entries an admin changes from the
command line within ``FRESH`` seconds, whichever language was asked about last (the
database is asked once a second per department, for all its languages)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mailticket.faq import entries
from mailticket.faq.exchange import NewEntry
from mailticket.faq.suggest import FRESH, Suggestions
from mailticket.store.models import FaqEntry
from mailticket.store.writes import Writes
from tests.corpora import throwaway_app

NOW = datetime(2026, 11, 23, 9, tzinfo=UTC)
TRACK_Q = "Comment suivre ma commande ?"
TRACK_A = "Le lien de suivi est dans l'e-mail d'expédition, et dans Mon compte > Commandes."
FR = "Bonjour, pourriez-vous me dire comment suivre ma commande ? Merci, Marie"
SV = "Hej, hur kan jag spåra min beställning? Tack, Sven"


@pytest.fixture
def desk(tmp_path, monkeypatch):
    app = throwaway_app(tmp_path / "desk")
    clock = [1000.0]
    monkeypatch.setattr("mailticket.faq.suggest.time.monotonic", lambda: clock[0])
    yield app, Suggestions(2), clock
    app.close()


def ask(app, faq: Suggestions, language: str, text: str) -> list[str]:
    with app.db.transaction() as s:
        return [x.question for x in faq.for_new_ticket(Writes(s), 1, "support", language,
                                                        text, NOW, subject="Commande")]


def test_an_entry_added_is_suggested_within_fresh_seconds(desk):
    app, faq, clock = desk
    assert ask(app, faq, "fr", FR) == []  # no entry yet: an empty French index
    clock[0] += 1.2 * FRESH
    assert ask(app, faq, "sv", SV) == []  # the department's versions are read again
    clock[0] += 0.1 * FRESH
    added = clock[0]
    with app.db.transaction() as s:
        entries.add(s, NewEntry("support", "fr", TRACK_Q, TRACK_A, "published"), NOW)
    clock[0] += 0.1 * FRESH
    ask(app, faq, "fr", FR)  # may still go by what was read before the entry came
    clock[0] = added + FRESH
    assert ask(app, faq, "fr", FR) == [TRACK_Q]


def test_an_entry_removed_is_no_longer_suggested(desk):
    app, faq, clock = desk
    with app.db.transaction() as s:
        entries.add(s, NewEntry("support", "fr", TRACK_Q, TRACK_A, "published"), NOW)
    assert ask(app, faq, "fr", FR) == [TRACK_Q]
    with app.db.transaction() as s:
        s.query(FaqEntry).delete()
    clock[0] += FRESH
    assert ask(app, faq, "fr", FR) == []
