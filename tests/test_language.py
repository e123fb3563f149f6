"""Answering customers in their own language: detection, dates, translated templates."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailticket.incoming import language as language_module
from mailticket.incoming.language import LanguageDetector, header_language
from mailticket.languages import CODES, format_instant
from mailticket.outgoing.templates import Templates, builtin_dir
from mailticket.sla.calendar import BusinessCalendar

LANGUAGES = ["en", "fr", "sv", "es", "bg", "de"]

# Short customer mails as people write them: a greeting, one or two sentences, a sign-off.
MAILS = {
    "en": [
        "Hi,\nour printer on the second floor keeps jamming since yesterday and the paper "
        "tray light is blinking. Could someone have a look?\nThanks",
        "Hello,\nI was charged twice for invoice 4471 this month. Can you refund the second "
        "payment?\nBest regards,\nMark",
        "Good morning, I can't log in to the customer portal any more, it says my account is "
        "locked. What should I do?",
        "Could you send me a quote for 20 laptops with docking stations, delivered to our "
        "Leeds office?",
        "Where can I download the VAT invoice for my March order?",
        "The password reset link has expired.",
    ],
    "fr": [
        "Bonjour,\nDepuis la mise à jour de lundi, l'imprimante du deuxième étage n'imprime "
        "plus que des pages blanches. Pouvez-vous envoyer quelqu'un ?\nMerci d'avance",
        "Bonjour,\nj'ai été prélevé deux fois pour la facture 4471 ce mois-ci. Pouvez-vous me "
        "rembourser le second paiement ?\nCordialement,\nMarc",
        "Bonjour, je n'arrive plus à me connecter à l'espace client, il m'indique que mon "
        "compte est bloqué. Que dois-je faire ?",
        "Pourriez-vous m'envoyer un devis pour 20 ordinateurs portables avec station "
        "d'accueil, livrés à notre bureau de Lyon ?",
        "Où puis-je télécharger la facture avec TVA de ma commande de mars ?",
        "Le lien pour changer le mot de passe a expiré.",
    ],
    "sv": [
        "Hej!\nJag kan inte logga in på kundportalen sedan i morse, den säger att mitt "
        "lösenord är fel fast jag just har bytt det. Kan ni hjälpa mig?\nMvh",
        "Hej,\nvi har fått dubbla debiteringar för faktura 4471 den här månaden. Kan ni "
        "betala tillbaka den andra?\nVänliga hälsningar\nAnna",
        "Skrivaren på andra våningen har slutat fungera efter uppdateringen, den skriver "
        "bara ut tomma sidor.",
        "Kan ni skicka en offert på 20 bärbara datorer med dockningsstationer, levererade "
        "till vårt kontor i Göteborg?",
        "Var kan jag ladda ner fakturan med moms för min beställning i mars?",
        "Länken för att byta lösenord har gått ut.",
    ],
    "es": [
        "Hola,\nhe recibido la factura de octubre pero el importe no coincide con el "
        "presupuesto que me enviaron. ¿Podrían revisarlo, por favor?\nUn saludo",
        "Buenos días,\nme han cobrado dos veces la factura 4471 este mes. ¿Me pueden devolver "
        "el segundo pago?\nSaludos cordiales,\nMarta",
        "No puedo entrar en el portal de clientes, me dice que mi cuenta está bloqueada. ¿Qué "
        "tengo que hacer?",
        "¿Podrían enviarme un presupuesto para 20 portátiles con base de conexión, con "
        "entrega en nuestra oficina de Valencia?",
        "¿Dónde puedo descargar la factura con IVA de mi pedido de marzo?",
        "El enlace para cambiar la contraseña ha caducado.",
    ],
    "bg": [
        "Здравейте,\nпринтерът в офиса ни спря да печата след последната актуализация и "
        "показва грешка 0x61. Можете ли да ни помогнете?\nПоздрави",
        "Здравейте,\nтози месец фактура 4471 ни е таксувана два пъти. Може ли да възстановите "
        "второто плащане?\nС уважение,\nИван",
        "Не мога да вляза в клиентския портал, пише, че профилът ми е блокиран. Какво да "
        "направя?",
        "Бихте ли ми изпратили оферта за 20 лаптопа с докинг станции с доставка до офиса ни "
        "в Пловдив?",
        "Откъде мога да изтегля фактурата с ДДС за поръчката ми от март?",
        "Линкът за смяна на паролата е изтекъл.",
    ],
    "de": [
        "Guten Tag,\nin der Rechnung Nr. 2026-0412 wurde uns die Lieferung zweimal berechnet. "
        "Könnten Sie das bitte prüfen und eine Gutschrift ausstellen?\nMit freundlichen Grüßen",
        "Hallo,\nunser Drucker im zweiten Stock druckt seit dem Update nur noch leere Seiten. "
        "Können Sie jemanden vorbeischicken?\nDanke und Gruß\nJens",
        "Ich kann mich nicht mehr im Kundenportal anmelden, angeblich ist mein Konto gesperrt. "
        "Was soll ich tun?",
        "Könnten Sie mir ein Angebot für 20 Laptops mit Dockingstation schicken, geliefert an "
        "unser Büro in Köln?",
        "Wo kann ich die Rechnung mit Mehrwertsteuer für meine Bestellung aus dem März "
        "herunterladen?",
        "Der Link zum Zurücksetzen des Passworts ist abgelaufen.",
    ],
}


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    return LanguageDetector()


# -- detection ---------------------------------------------------------------------------

@pytest.mark.parametrize(("lang", "text"), [(k, t) for k, ts in MAILS.items() for t in ts])
def test_customer_mails_are_detected_in_their_language(detector, lang, text):
    assert detector.detect(text) == (lang, "detected")


@pytest.mark.parametrize(("header", "expected"), [
    ("fr", "fr"), ("fr-FR", "fr"), ("FR-fr", "fr"), ("de_DE", "de"), (" sv-SE ", "sv"),
    ("fr, en", "fr"), ("it, es-ES", "es"), ("bg (Bulgarian)", "bg"), ("en-GB", "en"),
])
def test_content_language_wins_when_it_names_a_configured_language(detector, header, expected):
    # The text is plainly German: a configured header still decides.
    assert detector.detect(MAILS["de"][0], content_language=header) == (expected, "header")


@pytest.mark.parametrize("header", [None, "", "it", "pt-BR, nl", "x-klingon", "(comment only)"])
def test_unconfigured_content_language_falls_through_to_detection(detector, header):
    assert detector.detect(MAILS["sv"][0], content_language=header) == ("sv", "detected")


def test_header_language_parses_lists_and_case():
    langs = frozenset({"en", "fr"})
    assert header_language("FR-ca, en", langs) == "fr"
    assert header_language("de, EN-us", langs) == "en"
    assert header_language("de", langs) is None


@pytest.mark.parametrize("text", [
    "", "   \n ", "ok thanks", "merci beaucoup", "Danke!", "Tack!", "gracias", "Благодаря!",
    "Super, merci", "👍", "1234 5678", "https://example.com/invoice/4471/download",
    "alice.martin@example.fr",
])
def test_short_texts_fall_back(detector, text):
    assert detector.detect(text, fallback="de") == ("de", "fallback")


@pytest.mark.parametrize("text", [
    "Bonjour, je n'arrive pas à me connecter à mon compte depuis hier soir.\n"
    "Hello, I cannot log into my account since last night, please help.",
    "Hola, no puedo acceder a mi cuenta desde ayer. Hallo, ich kann mich seit gestern "
    "nicht anmelden. Hej, jag kan inte logga in sedan igår.",
])
def test_evenly_mixed_languages_fall_back(detector, text):
    assert detector.detect(text, fallback="en") == ("en", "fallback")


def test_mixed_text_takes_the_dominant_language(detector):
    text = ("Bonjour,\nje n'arrive pas à me connecter à mon compte depuis hier soir, le site "
            "me dit que le mot de passe est incorrect alors que je viens de le changer. "
            "Pouvez-vous vérifier ?\nThanks a lot\nSent from my iPhone")
    assert detector.detect(text) == ("fr", "detected")


def test_quoted_lines_and_their_attribution_are_ignored(detector):
    text = (
        "Hej,\ntack för svaret, nu fungerar skrivaren igen.\n\n"
        "On Tue, 24 Nov 2026 at 17:00, Example Support <support@example.com> wrote:\n"
        "> Hello, please switch the printer off and on again and tell us whether the\n"
        "> problem persists. If it does, we will send a technician tomorrow morning.\n"
        ">> Hi, the printer on the second floor only prints blank pages since Monday.\n"
    )
    assert detector.detect(text) == ("sv", "detected")
    # Only quoted text left: nothing of the customer's own to judge by.
    quoted = "\n".join(line for line in text.splitlines() if line.startswith(">"))
    assert detector.detect(quoted, fallback="fr") == ("fr", "fallback")


def test_links_and_addresses_do_not_count(detector):
    text = ("Hola, https://www.example.com/support/printer-troubleshooting-guide-english "
            "no me funciona, escríbanme a jose.garcia@example.es por favor")
    assert detector.detect(text) == ("es", "detected")


def test_huge_or_hostile_bodies_cost_little(detector):
    started = time.monotonic()
    assert detector.detect(("\n".join(MAILS["fr"]) + "\n") * 5000) == ("fr", "detected")
    assert detector.detect("> quoted\n" * 100_000 + MAILS["de"][0]) == ("de", "detected")
    assert detector.detect("x@" * 1_000_000)[1] == "fallback"
    assert detector.detect("(" * 100_000, content_language="(" * 100_000)[1] == "fallback"
    assert time.monotonic() - started < 2


def test_a_high_threshold_turns_a_short_guess_into_the_fallback(detector):
    text = "My printer is broken again."
    assert detector.detect(text) == ("en", "detected")
    assert detector.detect(text, fallback="sv", min_confidence=0.99) == ("sv", "fallback")


def test_a_single_configured_language_never_guesses():
    only = LanguageDetector({"fr"})
    assert only.detect(MAILS["fr"][0], fallback="fr") == ("fr", "fallback")
    assert only.detect(MAILS["de"][0], content_language="fr-BE") == ("fr", "header")


def test_unsupported_language_codes_are_refused_at_configuration_time():
    with pytest.raises(ValueError, match="xx"):
        LanguageDetector({"en", "xx"})


def test_lingua_detector_is_built_once_per_language_set():
    a, b = LanguageDetector(), LanguageDetector(["de", "EN", "fr", "sv", "es", "bg"])
    a.warm_up()
    b.warm_up()
    key = (frozenset(CODES), False)
    built = language_module._DETECTORS[key]
    assert language_module._lingua_detector(b.languages, False) is built
    smaller = LanguageDetector({"en", "fr"})
    assert smaller.detect(MAILS["fr"][1]) == ("fr", "detected")
    assert language_module._DETECTORS[(frozenset({"en", "fr"}), False)] is not built


def test_low_memory_mode_still_gets_ordinary_mails_right():
    small = LanguageDetector(low_memory=True)
    for lang, texts in MAILS.items():
        for text in texts:
            assert small.detect(text) == (lang, "detected")


def test_low_memory_mode_does_not_guess_on_a_short_line():
    # Trigrams alone read this one as Swedish, with 0.93 confidence.
    small = LanguageDetector(low_memory=True)
    assert small.detect("Hello, my printer is broken.", fallback="en") == ("en", "fallback")


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300), st.one_of(st.none(), st.text(max_size=30)))
def test_detect_never_fails_and_answers_a_configured_language_or_the_fallback(text, header):
    lang, how = LanguageDetector().detect(text, content_language=header, fallback="zz")
    assert how in ("header", "detected", "fallback")
    assert (lang == "zz") == (how == "fallback")
    assert lang == "zz" or lang in CODES


# -- dates ---------------------------------------------------------------------------------

WINTER = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)
SUMMER = datetime(2026, 7, 14, 8, 30, tzinfo=UTC)


@pytest.mark.parametrize(("language", "zone", "expected"), [
    ("en", "Europe/Paris", "Tuesday 24 November 2026, 17:00 CET"),
    ("en", "Europe/Stockholm", "Tuesday 24 November 2026, 17:00 CET"),
    ("fr", "Europe/Paris", "mardi 24 novembre 2026 à 17:00 (heure de Paris)"),
    ("fr", "Europe/Stockholm", "mardi 24 novembre 2026 à 17:00 (heure de Stockholm)"),
    ("sv", "Europe/Paris", "tisdag 24 november 2026 kl. 17:00 (centraleuropeisk tid)"),
    ("sv", "Europe/Stockholm", "tisdag 24 november 2026 kl. 17:00 (centraleuropeisk tid)"),
    ("es", "Europe/Paris", "martes, 24 de noviembre de 2026, a las 17:00 (hora de París)"),
    ("es", "Europe/Stockholm",
     "martes, 24 de noviembre de 2026, a las 17:00 (hora de Estocolmo)"),
    ("bg", "Europe/Paris",
     "вторник, 24 ноември 2026\u00a0г., 17:00 ч. (централноевропейско време)"),
    ("bg", "Europe/Stockholm",
     "вторник, 24 ноември 2026\u00a0г., 17:00 ч. (централноевропейско време)"),
    ("de", "Europe/Paris", "Dienstag, 24. November 2026, 17:00 Uhr (MEZ)"),
    ("de", "Europe/Stockholm", "Dienstag, 24. November 2026, 17:00 Uhr (MEZ)"),
])
def test_format_instant_in_winter(language, zone, expected):
    assert format_instant(WINTER, zone, language) == expected


@pytest.mark.parametrize(("language", "expected"), [
    ("en", "Tuesday 14 July 2026, 10:30 CEST"),
    ("fr", "mardi 14 juillet 2026 à 10:30 (heure de Paris)"),
    ("sv", "tisdag 14 juli 2026 kl. 10:30 (centraleuropeisk tid)"),
    ("es", "martes, 14 de julio de 2026, a las 10:30 (hora de París)"),
    ("bg", "вторник, 14 юли 2026\u00a0г., 10:30 ч. (централноевропейско време)"),
    ("de", "Dienstag, 14. Juli 2026, 10:30 Uhr (MESZ)"),
])
def test_format_instant_in_summer_time(language, expected):
    assert format_instant(SUMMER, "Europe/Paris", language) == expected


@pytest.mark.parametrize("language", ["xx", "", "zz-ZZ", "klingon"])
def test_unknown_language_reads_english(language):
    assert format_instant(WINTER, "Europe/Paris", language) == (
        "Tuesday 24 November 2026, 17:00 CET")


def test_language_tags_with_a_region_are_understood():
    assert format_instant(WINTER, "Europe/Paris", "fr-FR") == (
        "mardi 24 novembre 2026 à 17:00 (heure de Paris)")
    assert format_instant(WINTER, "Europe/Berlin", "DE") == (
        "Dienstag, 24. November 2026, 17:00 Uhr (MEZ)")


def test_naive_instants_are_utc_as_stored():
    naive = WINTER.replace(tzinfo=None)
    assert format_instant(naive, "Europe/Paris") == "Tuesday 24 November 2026, 17:00 CET"


@pytest.mark.parametrize(("language", "zone", "expected"), [
    ("en", "America/New_York", "Tuesday 24 November 2026, 11:00 EST"),
    ("en", "Europe/Istanbul", "Tuesday 24 November 2026, 19:00 UTC+03:00"),
    ("fr", "UTC", "mardi 24 novembre 2026 à 16:00 (UTC)"),
    ("fr", "Europe/Amsterdam", "mardi 24 novembre 2026 à 17:00 (heure d’Amsterdam)"),
    ("es", "Europe/Sofia", "martes, 24 de noviembre de 2026, a las 18:00 (hora de Sofía)"),
    ("de", "America/New_York", "Dienstag, 24. November 2026, 11:00 Uhr (Ortszeit New York)"),
    # CLDR as shipped in the Babel of constraints.txt (2.19 names Istanbul's zone "turkisk tid").
    ("sv", "Europe/Istanbul", "tisdag 24 november 2026 kl. 19:00 (turkisk tid)"),
    ("bg", "Europe/Sofia", "вторник, 24 ноември 2026\u00a0г., 18:00 ч. (източноевропейско време)"),
])
def test_other_zones_are_named_as_each_language_does(language, zone, expected):
    assert format_instant(WINTER, zone, language) == expected


def test_no_narrow_spaces_that_old_mail_fonts_cannot_draw():
    for language in ("bg", "en-US"):
        assert "\u202f" not in format_instant(WINTER, "Europe/Paris", language)


def test_spanish_says_a_la_una():
    one = datetime(2026, 11, 24, 0, 30, tzinfo=UTC)
    assert format_instant(one, "Europe/Madrid", "es").endswith("a la 1:30 (hora de Madrid)")


# -- templates -------------------------------------------------------------------------------

CUSTOMER_FACING = ["auto_response.txt.j2", "answer.txt.j2", "closed.txt.j2",
                   "feedback_request.txt.j2"]


def _all_variables(customer_name: str, subject: str) -> dict[str, object]:
    """Every variable any template may use, customer- or agent-facing."""
    due = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)
    return {
        "customer_name": customer_name, "department": "Example Support",
        "ref": "[Support #12]", "subject": subject, "due_at": due,
        "timezone": "Europe/Paris", "ticket_id": 12,
        "text": "Please restart the printer.", "agent_name": "Alice Martin",
        "marker": "##- Please type your reply above this line -##", "is_new": True,
        "kind": "customer", "customer": "Marie <marie@example.fr>",
        "author": "marie@example.fr", "state": "open", "priority": "normal",
        "assignee": None, "sla": "on_track",
        "attachments": [{"name": "photo.jpg", "type": "image/jpeg", "size": 1234}],
        "attached": True, "history": [{"date": "2026-11-24 09:00", "kind": "customer",
                                       "who": "marie@example.fr", "summary": "Printer"}],
        "customer_language": "fr", "bouncing": [], "errors": ["unknown command #frobnicate"],
        "level": 1, "late": "2 h", "left": "1 h", "asked": "Printer broken",
        "asked_at": due,
        "calendar": BusinessCalendar("Europe/Paris", {d: "09:00-17:00" for d in
                                     ("mon", "tue", "wed", "thu", "fri")}, holidays="FR"),
        "now": due,
        "grade": 2, "comment": "Too slow.", "answered_by": ["alice@example.fr"],
        "faq": [{"id": 3, "entry_id": 3, "question": "How do I reset the printer?",
                 "answer": "Hold the power button for ten seconds."}],
    }


def _template_files() -> list[tuple[str | None, str, str]]:
    """(department or None, language, name) for every template file shipped."""
    root = builtin_dir()
    found = []
    for path in sorted(root.rglob("*.j2")):
        parts = path.relative_to(root).parts
        dept = parts[0] if len(parts) == 3 else None
        found.append((dept, parts[-2], parts[-1]))
    return found


def test_the_template_tree_is_found():
    files = _template_files()
    assert (None, "en", "auto_response.txt.j2") in files
    assert ("sales", "en", "auto_response.txt.j2") in files


@pytest.mark.parametrize("lang", LANGUAGES)
def test_customer_facing_templates_exist_in_every_language(lang):
    root = builtin_dir()
    for name in CUSTOMER_FACING:
        assert (root / lang / name).is_file(), f"{lang}/{name} missing"
    assert (root / "sales" / lang / "auto_response.txt.j2").is_file()


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize(("customer_name", "subject"), [("Marie Dupont", "Imprimante"), ("", "")])
def test_every_template_renders_in_every_language(lang, customer_name, subject):
    templates = Templates()
    variables = _all_variables(customer_name, subject)
    names = sorted({(dept or "support", name) for dept, _, name in _template_files()})
    for dept, name in names:
        text, used = templates.render(
            name, dept_name=dept, dept_dir=None, languages=[lang], **variables)
        assert text.strip(), (dept, name, lang)
        assert "{{" not in text and "{%" not in text and "}}" not in text, (dept, name, lang)
        translated = (Path(builtin_dir()) / dept / lang / name).is_file() or (
            Path(builtin_dir()) / lang / name).is_file()
        assert used == (lang if translated else "en"), (dept, name, lang)
        if name in CUSTOMER_FACING:
            assert used == lang
            assert "[Support #12]" in text
            assert "Example Support" in text
        if name == "auto_response.txt.j2":
            assert format_instant(variables["due_at"], "Europe/Paris", lang) in text
        if customer_name and name in ("auto_response.txt.j2", "closed.txt.j2"):
            assert customer_name in text
        if not customer_name and name in ("auto_response.txt.j2", "closed.txt.j2"):
            first = text.splitlines()[0]
            assert "  " not in first and not first.endswith(" ,"), first


def test_customer_name_and_subject_are_optional_in_the_greeting():
    templates = Templates()
    text, _ = templates.render("closed.txt.j2", dept_name="support", dept_dir=None,
                               languages=["es"], **_all_variables("", ""))
    assert text.startswith("Hola:\n")
    assert "«" not in text
    text, _ = templates.render("closed.txt.j2", dept_name="support", dept_dir=None,
                               languages=["es"], **_all_variables("Marta", "Factura"))
    assert text.startswith("Hola, Marta:\n")
    assert "«Factura»" in text


def test_a_missing_translation_falls_back_to_the_next_language():
    templates = Templates()
    variables = _all_variables("Marie", "Imprimante")
    text, used = templates.render("auto_response.txt.j2", dept_name="support", dept_dir=None,
                                  languages=["xx", "fr"], **variables)
    assert used == "fr"
    assert text.startswith("Bonjour Marie,")
    assert "mardi 24 novembre 2026 à 17:00 (heure de Paris)" in text
    text, used = templates.render("auto_response.txt.j2", dept_name="sales", dept_dir=None,
                                  languages=["xx", "de"], **variables)
    assert used == "de"
    assert "Vertriebsteam" in text
    _, used = templates.render("auto_response.txt.j2", dept_name="support", dept_dir=None,
                               languages=["xx"], **variables)
    assert used == "en"


def test_agent_facing_templates_follow_the_department_language():
    templates = Templates()
    text, used = templates.render("notification.txt.j2", dept_name="support", dept_dir=None,
                                  languages=["fr"], **_all_variables("Marie", "Imprimante"))
    assert used == "fr"
    assert "mardi 24 novembre 2026 à 17:00 (heure de Paris)" in text
    # The marker the reply parser cuts at is the same in every language.
    assert text.startswith("##- Please type your reply above this line -##")


@pytest.mark.parametrize(("lang", "words"), [
    ("fr", ["ouvert", "normale", "dans les temps"]),
    ("sv", ["öppen", "normal", "i tid"]),
    ("es", ["abierto", "normal", "a tiempo"]),
    ("bg", ["отворен", "нормален", "в срок"]),
    ("de", ["offen", "normal", "im Plan"]),
    ("en", ["open", "normal", "on track"]),
])
def test_agent_mails_name_state_priority_and_sla_in_their_language(lang, words):
    """The department's language all through an agent's notification, not English
    status words inside a French text; agents still type the English commands."""
    variables = _all_variables("Marie Dupont", "Imprimante")
    text, used = Templates().render("notification.txt.j2", dept_name="support",
                                    dept_dir=None, languages=[lang], **variables)
    assert used == lang
    for word in words:
        assert word in text, (lang, word)
    assert "on_track" not in text
    if lang != "en":  # no English value after a translated field name
        assert not re.search(r":\s+(open|normal \(|on track)", text), text
