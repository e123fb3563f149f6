"""The words agent mails show for a ticket's state, priority and SLA state, in the
template's language.  The values stay English everywhere else: in the database, the
CLI's JSON and the commands agents type (#pending, #priority high)."""

from __future__ import annotations

_VALUES = ("new", "open", "pending", "closed",          # states
           "low", "normal", "high", "urgent",             # priorities
           "on_track", "at_risk", "breached", "met")      # SLA states
_WORDS = {
    "en": ("new", "open", "pending", "closed", "low", "normal", "high", "urgent",
           "on track", "at risk", "breached", "met"),
    "fr": ("nouveau", "ouvert", "en attente", "fermé", "basse", "normale", "haute", "urgente",
           "dans les temps", "à risque", "dépassé", "respecté"),
    "sv": ("ny", "öppen", "väntar", "stängd", "låg", "normal", "hög", "brådskande",
           "i tid", "i farozonen", "överskriden", "uppfylld"),
    "es": ("nuevo", "abierto", "pendiente", "cerrado", "baja", "normal", "alta", "urgente",
           "a tiempo", "en riesgo", "incumplido", "cumplido"),
    "bg": ("нов", "отворен", "изчакващ", "затворен", "нисък", "нормален", "висок", "спешен",
           "в срок", "в риск", "просрочен", "спазен"),
    "de": ("neu", "offen", "wartend", "geschlossen", "niedrig", "normal", "hoch", "dringend",
           "im Plan", "gefährdet", "überschritten", "eingehalten"),
}
WORDS = {lang: dict(zip(_VALUES, words, strict=True)) for lang, words in _WORDS.items()}


def label(value: object, language: str) -> object:
    """``value`` in ``language``'s words; unknown values and languages as they are."""
    if value is None:
        return value
    return WORDS.get(language, WORDS["en"]).get(str(value), value)
