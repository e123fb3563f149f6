"""The words agent mails show for a ticket's state, priority and SLA state, in the
template's language.  The values stay English everywhere else: in the database, the
CLI's JSON and the commands agents type (#pending, #priority high)."""

from __future__ import annotations

WORDS: dict[str, dict[str, str]] = {
    "en": {"new": "new", "open": "open", "pending": "pending", "closed": "closed",
           "low": "low", "normal": "normal", "high": "high", "urgent": "urgent",
           "on_track": "on track", "at_risk": "at risk", "breached": "breached",
           "met": "met"},
    "fr": {"new": "nouveau", "open": "ouvert", "pending": "en attente", "closed": "fermé",
           "low": "basse", "normal": "normale", "high": "haute", "urgent": "urgente",
           "on_track": "dans les temps", "at_risk": "à risque", "breached": "dépassé",
           "met": "respecté"},
    "sv": {"new": "ny", "open": "öppen", "pending": "väntar", "closed": "stängd",
           "low": "låg", "normal": "normal", "high": "hög", "urgent": "brådskande",
           "on_track": "i tid", "at_risk": "i farozonen", "breached": "överskriden",
           "met": "uppfylld"},
    "es": {"new": "nuevo", "open": "abierto", "pending": "pendiente", "closed": "cerrado",
           "low": "baja", "normal": "normal", "high": "alta", "urgent": "urgente",
           "on_track": "a tiempo", "at_risk": "en riesgo", "breached": "incumplido",
           "met": "cumplido"},
    "bg": {"new": "нов", "open": "отворен", "pending": "изчакващ", "closed": "затворен",
           "low": "нисък", "normal": "нормален", "high": "висок", "urgent": "спешен",
           "on_track": "в срок", "at_risk": "в риск", "breached": "просрочен",
           "met": "спазен"},
    "de": {"new": "neu", "open": "offen", "pending": "wartend", "closed": "geschlossen",
           "low": "niedrig", "normal": "normal", "high": "hoch", "urgent": "dringend",
           "on_track": "im Plan", "at_risk": "gefährdet", "breached": "überschritten",
           "met": "eingehalten"},
}


def label(value: object, language: str) -> object:
    """``value`` in ``language``'s words; unknown values and languages as they are."""
    if value is None:
        return value
    return WORDS.get(language, WORDS["en"]).get(str(value), value)
