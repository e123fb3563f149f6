"""Instants as the reader of a mail wants to see them: local time, their language."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from babel.core import UnknownLocaleError
from babel.dates import format_date

# Locales whose long date reads best to a European reader ("Tuesday 24 November 2026").
_LOCALE = {"en": "en_GB"}


def format_instant(instant: datetime, timezone: str, language: str = "en") -> str:
    """'Tuesday 24 November 2026, 17:00 CET' in the given language and zone."""
    local = instant.astimezone(ZoneInfo(timezone))
    try:
        day = format_date(local.date(), "full", locale=_LOCALE.get(language, language))
    except (UnknownLocaleError, ValueError):
        day = format_date(local.date(), "full", locale="en_GB")
    return f"{day}, {local:%H:%M} {local.tzname()}"
