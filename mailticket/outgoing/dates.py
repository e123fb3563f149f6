"""How each language writes an instant: one function per language.

The promise in an auto-response is read by a customer, so it follows the habits of
that customer's language (word order, "à", "kl.", "a las", "Uhr", "ч.") and names the
zone the way that language does. Day and month names, date patterns, city and zone
names all come from Babel (CLDR); only the small connecting words are written here.
Which language uses which function is said in ``mailticket/languages.py``, whose
``format_instant`` is the one entry point.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_time, get_timezone_location, get_timezone_name

#: A language's way of writing a local instant in its zone, for its Babel locale.
Phrasing = Callable[[datetime, ZoneInfo, Locale], str]

# Zone keys that name no place: "heure de UTC" would read oddly in any language.
_PLACELESS = ("UTC", "Etc/", "GMT", "Zulu", "Universal", "UCT")


def _offset(local: datetime) -> str:
    """"UTC+01:00"; "UTC" alone at offset zero."""
    seconds = int(local.utcoffset().total_seconds())  # type: ignore[union-attr]
    if not seconds:
        return "UTC"
    sign = "+" if seconds > 0 else "-"
    hours, minutes = divmod(abs(seconds) // 60, 60)
    return f"UTC{sign}{hours:02d}:{minutes:02d}"


def _placeless(zone: ZoneInfo) -> bool:
    return str(zone.key).startswith(_PLACELESS)


def _city(zone: ZoneInfo, locale: Locale) -> str:
    """The zone's city in the reader's language ("Estocolmo", "Париж")."""
    city = get_timezone_location(zone, locale=locale, return_city=True)
    # Babel names zones it has no translation for by their key ("Argentina/Buenos Aires").
    return city.rsplit("/", 1)[-1]


def _generic_name(local: datetime, zone: ZoneInfo, locale: Locale) -> str | None:
    """"centraleuropeisk tid", or None where CLDR has only an offset for this zone."""
    name = get_timezone_name(local, "long", zone_variant="generic", locale=locale)
    return None if any(ch.isdigit() for ch in name) else name


def _date(local: datetime, locale: Locale) -> str:
    return format_date(local.date(), "full", locale=locale)


def _time(local: datetime, locale: Locale) -> str:
    return format_time(local.time(), "short", locale=locale)


def english(local: datetime, zone: ZoneInfo, locale: Locale) -> str:
    # The zone's own abbreviation (CET, CEST, EST, GMT, BST) is what English readers
    # know; zones without one get their offset ("+03" -> "UTC+03:00").
    abbreviation = local.tzname() or ""
    if not abbreviation.isalpha():
        abbreviation = _offset(local)
    # British order without CLDR's comma after the weekday, as the design shows it;
    # an explicit other English ("en-US") keeps its own full date.
    british = locale.territory == "GB"
    day = format_date(local.date(), "EEEE d MMMM y" if british else "full", locale=locale)
    return f"{day}, {_time(local, locale)} {abbreviation}"


def french(local: datetime, zone: ZoneInfo, locale: Locale) -> str:
    if _placeless(zone):
        where = _offset(local)
    else:
        city = _city(zone, locale)
        where = f"heure d’{city}" if city[:1].upper() in "AEIOUYÉÈÊÂÎÔÛ" else f"heure de {city}"
    return f"{_date(local, locale)} à {_time(local, locale)} ({where})"


def swedish(local: datetime, zone: ZoneInfo, locale: Locale) -> str:
    where = None if _placeless(zone) else _generic_name(local, zone, locale)
    if where is None:
        where = _offset(local) if _placeless(zone) else f"lokal tid i {_city(zone, locale)}"
    return f"{_date(local, locale)} kl. {_time(local, locale)} ({where})"


def spanish(local: datetime, zone: ZoneInfo, locale: Locale) -> str:
    where = _offset(local) if _placeless(zone) else f"hora de {_city(zone, locale)}"
    time = _time(local, locale)
    # "a la una", "a las dos": the article agrees with the hour as it is written.
    at = "a la" if time.startswith(("1:", "01:")) else "a las"
    return f"{_date(local, locale)}, {at} {time} ({where})"


def bulgarian(local: datetime, zone: ZoneInfo, locale: Locale) -> str:
    where = None if _placeless(zone) else _generic_name(local, zone, locale)
    if where is None:
        where = _offset(local) if _placeless(zone) else f"местно време в {_city(zone, locale)}"
    else:
        # CLDR capitalises the name as a heading; inside a sentence it is lower case.
        where = where[:1].lower() + where[1:]
    return f"{_date(local, locale)}, {_time(local, locale)} ч. ({where})"


def german(local: datetime, zone: ZoneInfo, locale: Locale) -> str:
    # "MEZ", "MESZ", "OEZ": CLDR's German abbreviations; elsewhere "Ortszeit New York".
    short = get_timezone_name(local, "short", locale=locale)
    if _placeless(zone):
        where = _offset(local)
    elif short.isalpha():
        where = short
    else:
        where = f"Ortszeit {_city(zone, locale)}"
    return f"{_date(local, locale)}, {_time(local, locale)} Uhr ({where})"


def other(local: datetime, zone: ZoneInfo, locale: Locale) -> str:
    """A language we wrote no rules for: Babel's own date-time pattern and zone name."""
    where = _offset(local) if _placeless(zone) else get_timezone_location(zone, locale=locale)
    pattern = locale.datetime_formats.get("full", "{1} {0}")
    return f"{pattern.format(_time(local, locale), _date(local, locale))} ({where})"
