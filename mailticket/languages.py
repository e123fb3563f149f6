"""The languages mailticket speaks out of the box, one row each, and what reads them.

A seventh language is one row in ``LANGUAGES`` plus a ``templates/<code>/`` folder
with every template of ``outgoing/kinds.py`` (``tests/test_languages.py`` checks both).
The code is ISO 639-1: the template folder's name, the Content-Language we write and
the code Lingua knows the language by.  Languages outside the table still work where
an installation brings templates for them: Babel's own date pattern, English words.

What stays elsewhere, on purpose: the reply prefixes (``mail/subject.py``) and quote
attributions (``incoming/replies.py``) are those of the mail clients of the world,
many more languages than we answer in, so they are not keyed by this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from babel import Locale
from babel.core import UnknownLocaleError

from mailticket.outgoing import dates

#: The values agent mails show in the reader's words (``label``); they stay English in
#: the database, the CLI's JSON and the commands agents type (#pending, #priority high).
VALUES = ("new", "open", "pending", "closed",          # states
          "low", "normal", "high", "urgent",             # priorities
          "on_track", "at_risk", "breached", "met")      # SLA states
#: Subject prefixes of agent-facing mails (``MailKind.subject_label``).
SUBJECT_LABELS = ("not_sent", "overdue", "due_soon", "low_grade")


@dataclass(frozen=True)
class Language:
    code: str
    name: str                      # in English, for people reading the config
    locale: str                    # the territory a reader of the bare code expects
    phrasing: dates.Phrasing       # how a promised instant is written
    words: tuple[str, ...]         # ``VALUES`` in this language, in that order
    subjects: tuple[str, ...]      # ``SUBJECT_LABELS`` in this language, in that order

    def subject_label(self, key: str) -> str:
        return dict(zip(SUBJECT_LABELS, self.subjects, strict=True))[key]


LANGUAGES: dict[str, Language] = {lang.code: lang for lang in (
    # English readers get the European long date ("Tuesday 24 November 2026").
    Language("en", "English", "en_GB", dates.english,
             ("new", "open", "pending", "closed", "low", "normal", "high", "urgent",
              "on track", "at risk", "breached", "met"),
             ("Not sent", "Overdue", "Due soon", "Low grade")),
    Language("fr", "French", "fr_FR", dates.french,
             ("nouveau", "ouvert", "en attente", "fermé", "basse", "normale", "haute",
              "urgente", "dans les temps", "à risque", "dépassé", "respecté"),
             ("Non envoyé", "En retard", "Échéance proche", "Note basse")),
    Language("sv", "Swedish", "sv_SE", dates.swedish,
             ("ny", "öppen", "väntar", "stängd", "låg", "normal", "hög", "brådskande",
              "i tid", "i farozonen", "överskriden", "uppfylld"),
             ("Ej skickat", "Försenat", "Snart förfallet", "Lågt betyg")),
    Language("es", "Spanish", "es_ES", dates.spanish,
             ("nuevo", "abierto", "pendiente", "cerrado", "baja", "normal", "alta",
              "urgente", "a tiempo", "en riesgo", "incumplido", "cumplido"),
             ("No enviado", "Vencido", "Vence pronto", "Nota baja")),
    Language("bg", "Bulgarian", "bg_BG", dates.bulgarian,
             ("нов", "отворен", "изчакващ", "затворен", "нисък", "нормален", "висок",
              "спешен", "в срок", "в риск", "просрочен", "спазен"),
             ("Неизпратено", "Просрочено", "Изтича скоро", "Ниска оценка")),
    Language("de", "German", "de_DE", dates.german,
             ("neu", "offen", "wartend", "geschlossen", "niedrig", "normal", "hoch",
              "dringend", "im Plan", "gefährdet", "überschritten", "eingehalten"),
             ("Nicht gesendet", "Überfällig", "Bald fällig", "Schlechte Bewertung")),
)}
ENGLISH = LANGUAGES["en"]
CODES: tuple[str, ...] = tuple(LANGUAGES)
_WORDS = {code: dict(zip(VALUES, lang.words, strict=True)) for code, lang in LANGUAGES.items()}


def get(code: str) -> Language:
    """The row for ``code``; English for a language outside the table."""
    return LANGUAGES.get(code, ENGLISH)


def label(value: object, language: str) -> object:
    """``value`` in ``language``'s words (the templates' ``label`` filter); unknown values
    and languages as they are."""
    if value is None:
        return value
    return _WORDS.get(language, _WORDS["en"]).get(str(value), value)


def locale(language: str) -> Locale:
    """Babel locale for "fr", "fr-CA", "de_AT"; English when Babel does not know it."""
    tag = (language or "").strip().replace("-", "_")
    try:
        found = Locale.parse(tag)
    except (UnknownLocaleError, ValueError, TypeError):
        return Locale.parse(ENGLISH.locale)
    if found.territory is None and found.language in LANGUAGES:
        return Locale.parse(LANGUAGES[found.language].locale)
    return found


@lru_cache(maxsize=1024)  # a backlog promises the same few instants thousands of times
def format_instant(instant: datetime, timezone: str, language: str = "en") -> str:
    """The promised instant as a reader of ``language`` in ``timezone`` expects it
    (the templates' ``instant`` filter).

    "Tuesday 24 November 2026, 17:00 CET", "mardi 24 novembre 2026 à 17:00 (heure de
    Paris)", "Dienstag, 24. November 2026, 17:00 Uhr (MEZ)" … Naive instants are UTC,
    as the store keeps them.
    """
    zone = ZoneInfo(timezone)
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    local = instant.astimezone(zone)
    found = locale(language)
    row = LANGUAGES.get(found.language)
    phrasing = row.phrasing if row else dates.other
    # CLDR keeps "2026 г." and "5:00 PM" together with a narrow no-break space, which
    # older mail fonts draw as a box; the plain no-break space does the same job.
    return phrasing(local, zone, found).replace("\u202f", "\u00a0")
