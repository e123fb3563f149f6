"""Customers answered in their own language, over the real Dovecot and SMTP servers."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from mailticket.cli import main
from mailticket.clock import FixedClock
from tests.conftest import body, mail

pytestmark = pytest.mark.integration

# Monday 23 November 2026, 10:15 in Paris: the promise is Tuesday 24 November, 10:15.
MONDAY = datetime(2026, 11, 23, 9, 15, tzinfo=UTC)

MAILS = {
    "en": ("My printer stopped working",
           "Hello,\n\nsince yesterday my printer refuses to print anything. The light keeps "
           "blinking orange and nothing comes out.\nCould you help me, please?\n\nThanks, Ann"),
    "fr": ("Mon imprimante ne fonctionne plus",
           "Bonjour,\n\ndepuis hier mon imprimante refuse d'imprimer quoi que ce soit. Le voyant "
           "clignote en orange et rien ne sort.\nPourriez-vous m'aider, s'il vous plaît ?\n\n"
           "Merci d'avance, Amélie"),
    "sv": ("Min skrivare har slutat fungera",
           "Hej,\n\nsedan i går vägrar min skrivare att skriva ut något alls. Lampan blinkar "
           "orange och ingenting kommer ut.\nKan ni hjälpa mig?\n\nTack på förhand, Åsa"),
    "es": ("Mi impresora ha dejado de funcionar",
           "Hola:\n\ndesde ayer mi impresora no imprime nada. La luz parpadea en naranja y no "
           "sale ninguna hoja.\n¿Podrían ayudarme, por favor?\n\nGracias de antemano, Lucía"),
    "bg": ("Принтерът ми спря да работи",
           "Здравейте,\n\nот вчера принтерът ми отказва да печата каквото и да било. Лампичката "
           "мига в оранжево и нищо не излиза.\nБихте ли ми помогнали?\n\nБлагодаря предварително,"
           " Мария"),
    "de": ("Mein Drucker funktioniert nicht mehr",
           "Guten Tag,\n\nseit gestern druckt mein Drucker überhaupt nichts mehr. Die Lampe "
           "blinkt orange und es kommt kein Blatt heraus.\nKönnten Sie mir bitte helfen?\n\n"
           "Vielen Dank im Voraus, Jonas"),
}
PROMISES = {
    "en": "Tuesday 24 November 2026, 10:15 CET",
    "fr": "mardi 24 novembre 2026 à 10:15 (heure de Paris)",
    "sv": "tisdag 24 november 2026 kl. 10:15",
    "es": "martes, 24 de noviembre de 2026, a las 10:15",
    "bg": "вторник, 24 ноември 2026 г., 10:15 ч.",
    "de": "Dienstag, 24. November 2026, 10:15 Uhr (MEZ)",
}
GREETINGS = {"en": "Hello", "fr": "Bonjour", "sv": "Hej", "es": "Hola", "bg": "Здравейте",
             "de": "Guten Tag"}


def tickets(w):
    r = CliRunner().invoke(main, ["--config", str(w.config_path), "tickets", "--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


def test_each_language_gets_its_own_auto_response_and_promise(make_world):
    w = make_world(clock=FixedClock(MONDAY))
    for lang, (subject, text) in MAILS.items():
        w.deliver("support", mail(f"{lang}@{w.domain}", w.addr("support"), subject, text))
    w.poll()
    for lang in MAILS:
        [auto] = w.wait_inbox(lang, 1)
        got = body(auto)
        assert PROMISES[lang] in " ".join(got.split()), f"{lang}:\n{got}"
        assert got.startswith(GREETINGS[lang]), f"{lang}:\n{got}"
        assert auto["Content-Language"] == lang
    assert {t["customer"].split("@")[0]: t["language"] for t in tickets(w)} == {
        lang: lang for lang in MAILS}
    # Agents read the department's language, with the customer's shown.
    [note] = [n for n in w.wait_inbox("alice", 6) if "Mein Drucker" in n["Subject"]]
    assert "Language:   de" in body(note) and "Department:" in body(note)


def test_short_and_mixed_mails_fall_back_and_a_customer_language_sticks(make_world):
    w = make_world(clock=FixedClock(MONDAY))
    # Too short to tell: the department's language (English).
    w.deliver("support", mail(f"short@{w.domain}", w.addr("support"), "?", "ok merci"))
    # Half French, half English: no clear winner, the department's language.
    w.deliver("support", mail(f"mixed@{w.domain}", w.addr("support"), "Facture / invoice",
                              "Bonjour, je n'ai pas reçu la facture du mois dernier.\n"
                              "Hello, I did not receive last month's invoice either."))
    # The Content-Language header wins over the text.
    w.deliver("support", mail(f"header@{w.domain}", w.addr("support"), "Hi",
                              "Hello, this text is English but the header says Swedish.",
                              headers={"Content-Language": "sv-SE"}))
    w.poll()
    assert body(w.wait_inbox("short", 1)[0]).startswith("Hello")
    assert body(w.wait_inbox("mixed", 1)[0]).startswith("Hello")
    assert body(w.wait_inbox("header", 1)[0]).startswith("Hej")

    # A Swedish customer writes a long mail, then later a one-liner on a new ticket:
    # the one-liner is answered in Swedish too.
    subject, text = MAILS["sv"]
    w.deliver("support", mail(f"asa@{w.domain}", w.addr("support"), subject, text))
    w.poll()
    w.deliver("support", mail(f"asa@{w.domain}", w.addr("support"), "En sak till", "ok?"))
    w.poll()
    first, second = w.wait_inbox("asa", 2)
    assert body(first).startswith("Hej") and body(second).startswith("Hej")
    langs = {t["subject"]: t["language"] for t in tickets(w)}
    assert langs["En sak till"] == "sv" and langs["?"] == "en"


def test_auto_response_states_the_hours_and_when_the_team_is_back(make_world):
    # Saturday 28 November 2026, 11:00 in Paris: closed for the weekend.
    w = make_world(clock=FixedClock(datetime(2026, 11, 28, 10, 0, tzinfo=UTC)))
    subject, text = MAILS["fr"]
    w.deliver("support", mail(f"samedi@{w.domain}", w.addr("support"), subject, text))
    w.poll()
    [auto] = w.wait_inbox("samedi", 1)
    got = " ".join(body(auto).split())
    assert ("Nos horaires : du lundi au vendredi, de 09:00 à 17:00, heure de Paris ; "
            "fermé les jours fériés (France).") in got, got
    assert ("Nous sommes fermés pour le week-end ; nous serons de retour lundi à 09:00."
            in got), got


def test_no_closed_line_while_the_team_is_in(make_world):
    w = make_world(clock=FixedClock(MONDAY))
    subject, text = MAILS["de"]
    w.deliver("support", mail(f"montag@{w.domain}", w.addr("support"), subject, text))
    w.poll()
    [auto] = w.wait_inbox("montag", 1)
    got = " ".join(body(auto).split())
    assert "Unsere Öffnungszeiten: Montag bis Freitag, 09:00–17:00 Uhr" in got, got
    assert "wieder für Sie da" not in got and "geschlossen;" not in got, got
