"""The department's opening hours, and when a closed team is back, in the reader's words.

The auto-response tells the customer when the team works ("Monday to Friday,
09:00–17:00, Paris time; closed on public holidays in France") and, when the mail came
in while the team was away, when it is back ("We're closed for the weekend; we'll be
back on Monday at 09:00"). Both are read from the same ``BusinessCalendar`` as the
promise, so they cannot disagree with it. Day names, times, lists, city, zone and
country names come from Babel (CLDR); the connecting words of each language are
written here, one ``Wording`` each (English, words and names, for a language we have
none for: a sentence half in one language reads worse than one in English).

Pure: the instant "now" is an argument (the templates pass the mail's processing time).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Literal

from babel import Locale
from babel.dates import format_date, format_time, get_timezone_name
from babel.lists import format_list

from mailticket.languages import locale as babel_locale
from mailticket.outgoing.dates import _city, _placeless
from mailticket.sla.calendar import BusinessCalendar

#: Why the team is away: before the day's first opening, between two intervals of a
#: day, after the day's last one, over a weekend, for a public holiday, or otherwise
#: (an extra closed day, a weekday without hours).
Closure = Literal["early", "break", "evening", "weekend", "holiday", "closed"]

_FULL_DAY = (0, 24 * 60)
_WEEK = 7


# --------------------------------------------------------------------------- structure


@dataclass(frozen=True)
class DayGroup:
    """Consecutive weekdays (0 = Monday) sharing the same open intervals."""

    first: int
    last: int
    intervals: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Reopening:
    """The team is away at some instant: why, and the instant it opens again."""

    closure: Closure
    at: datetime  # UTC
    days_ahead: int  # local dates between now and the reopening (0 = today)


def week_groups(calendar: BusinessCalendar) -> list[DayGroup]:
    """The weekly hours as runs of consecutive days with equal hours; closed days left out."""
    groups: list[DayGroup] = []
    for day, intervals in enumerate(calendar.weekly_hours()):
        if not intervals:
            continue
        last = groups[-1] if groups else None
        if last is not None and last.last == day - 1 and last.intervals == intervals:
            groups[-1] = DayGroup(last.first, day, intervals)
        else:
            groups.append(DayGroup(day, day, intervals))
    return groups


def next_opening(calendar: BusinessCalendar, now: datetime) -> datetime | None:
    """The next instant the team opens after ``now``; None while it is open."""
    if calendar.is_open(now):
        return None
    utc = now.astimezone(UTC)
    day = utc.astimezone(calendar.zone).date() - timedelta(days=1)
    for _ in range(3 * 366 + 2):
        for start, _end in calendar.intervals(day):
            if start > utc:
                return start
        day += timedelta(days=1)
    raise ValueError(f"no opening within three years after {utc.isoformat()}")


def reopening(calendar: BusinessCalendar, now: datetime) -> Reopening | None:
    """Why the team is away at ``now`` and when it is back; None while it is open."""
    at = next_opening(calendar, now)
    if at is None:
        return None
    zone = calendar.zone
    today = now.astimezone(zone).date()
    opening_day = at.astimezone(zone).date()
    ahead = (opening_day - today).days
    today_intervals = calendar.intervals(today)
    ended_today = any(end <= now for _start, end in today_intervals)
    if ahead <= 0:
        return Reopening("break" if ended_today else "early", at, 0)
    away = [today + timedelta(days=n) for n in range(0 if not today_intervals else 1, ahead)]
    if not away:
        return Reopening("evening", at, ahead)
    kinds = {calendar.day_kind(day) for day in away}
    closure: Closure
    if "holiday" in kinds:
        closure = "holiday"
    elif "closed" in kinds:
        closure = "closed"
    elif all(day.weekday() >= 5 for day in away):
        closure = "weekend"
    else:
        closure = "closed"
    return Reopening(closure, at, ahead)


# --------------------------------------------------------------------------- wording


@dataclass(frozen=True)
class Wording:
    """One language's connecting words. ``{…}`` fields are filled with Babel's names."""

    hours: str            # the sentence: {schedule}, {zone}, {holidays} ("" when none)
    holidays: str         # {country}
    day_range: str        # {first}, {last}
    one_day: str          # {day}
    interval: str         # {start}, {end}
    around_the_clock: str
    every_day: str
    group: str            # {days}, {hours}
    group_separator: str
    zone: str             # {city}; "generic" uses CLDR's generic zone name instead
    today: str            # {time}
    tomorrow: str         # {time}
    weekday: str          # {day}, {time}
    far: str              # {date}, {time}
    far_date: str         # a Babel date pattern: weekday, day and month
    back: dict[str, str]  # Closure -> sentence with {when}
    time_suffix: str = ""


_EN = Wording(
    hours="Our opening hours: {schedule}, {zone}{holidays}.",
    holidays="; closed on public holidays in {country}",
    day_range="{first} to {last}", one_day="{day}", interval="{start}–{end}",
    around_the_clock="around the clock", every_day="every day",
    group="{days}, {hours}", group_separator="; ", zone="{city} time",
    today="today at {time}", tomorrow="tomorrow at {time}", weekday="on {day} at {time}",
    far="on {date} at {time}", far_date="EEEE d MMMM",
    back={
        "early": "We're not open yet; we'll be there {when}.",
        "break": "We're away for a short break; we'll be back {when}.",
        "evening": "We're closed for the day; we'll be back {when}.",
        "weekend": "We're closed for the weekend; we'll be back {when}.",
        "holiday": "We're closed for a public holiday; we'll be back {when}.",
        "closed": "We're closed at the moment; we'll be back {when}.",
    },
)

_WORDINGS: dict[str, Wording] = {
    "en": _EN,
    "fr": Wording(
        hours="Nos horaires : {schedule}, {zone}{holidays}.",
        holidays=" ; fermé les jours fériés ({country})",
        day_range="du {first} au {last}", one_day="le {day}", interval="de {start} à {end}",
        around_the_clock="24 heures sur 24", every_day="tous les jours",
        group="{days}, {hours}", group_separator=" ; ", zone="heure de {city}",
        today="aujourd’hui à {time}", tomorrow="demain à {time}", weekday="{day} à {time}",
        far="le {date} à {time}", far_date="EEEE d MMMM",
        back={
            "early": "Nous ne sommes pas encore ouverts ; nous serons là {when}.",
            "break": "Nous faisons une courte pause ; nous serons de retour {when}.",
            "evening": "Nous sommes fermés pour aujourd’hui ; nous serons de retour {when}.",
            "weekend": "Nous sommes fermés pour le week-end ; nous serons de retour {when}.",
            "holiday": "Nous sommes fermés pour un jour férié ; nous serons de retour {when}.",
            "closed": "Nous sommes fermés en ce moment ; nous serons de retour {when}.",
        },
    ),
    "sv": Wording(
        hours="Våra öppettider: {schedule}, {zone}{holidays}.",
        holidays="; stängt på allmänna helgdagar i {country}",
        day_range="{first}–{last}", one_day="{day}", interval="{start}–{end}",
        around_the_clock="dygnet runt", every_day="alla dagar",
        group="{days} {hours}", group_separator="; ", zone="generic",
        today="i dag kl. {time}", tomorrow="i morgon kl. {time}", weekday="på {day} kl. {time}",
        far="{date} kl. {time}", far_date="EEEE d MMMM",
        back={
            "early": "Vi har inte öppnat än; vi är på plats {when}.",
            "break": "Vi har en kort paus; vi är tillbaka {when}.",
            "evening": "Vi har stängt för dagen; vi är tillbaka {when}.",
            "weekend": "Vi har stängt över helgen; vi är tillbaka {when}.",
            "holiday": "Vi har stängt på grund av en helgdag; vi är tillbaka {when}.",
            "closed": "Vi har stängt just nu; vi är tillbaka {when}.",
        },
    ),
    "es": Wording(
        hours="Nuestro horario: {schedule}, {zone}{holidays}.",
        holidays="; cerrado los días festivos en {country}",
        day_range="de {first} a {last}", one_day="{day}", interval="de {start} a {end}",
        around_the_clock="las 24 horas", every_day="todos los días",
        group="{days}, {hours}", group_separator="; ", zone="hora de {city}",
        today="hoy {at} {time}", tomorrow="mañana {at} {time}", weekday="el {day} {at} {time}",
        far="el {date} {at} {time}", far_date="EEEE d 'de' MMMM",
        back={
            "early": "Todavía no hemos abierto; estaremos aquí {when}.",
            "break": "Estamos en una breve pausa; volveremos {when}.",
            "evening": "Hemos cerrado por hoy; volveremos {when}.",
            "weekend": "Estamos cerrados por el fin de semana; volveremos {when}.",
            "holiday": "Estamos cerrados por ser día festivo; volveremos {when}.",
            "closed": "Ahora mismo estamos cerrados; volveremos {when}.",
        },
    ),
    "de": Wording(
        hours="Unsere Öffnungszeiten: {schedule}, {zone}{holidays}.",
        holidays="; an gesetzlichen Feiertagen ({country}) geschlossen",
        day_range="{first} bis {last}", one_day="{day}", interval="{start}–{end} Uhr",
        around_the_clock="rund um die Uhr", every_day="täglich",
        group="{days}, {hours}", group_separator="; ", zone="generic",
        today="heute um {time} Uhr", tomorrow="morgen um {time} Uhr",
        weekday="am {day} um {time} Uhr", far="am {date}, um {time} Uhr",
        far_date="EEEE, d. MMMM",
        back={
            "early": "Wir haben noch geschlossen; wir sind {when} für Sie da.",
            "break": "Wir machen gerade eine kurze Pause; wir sind {when} wieder für Sie da.",
            "evening": "Für heute haben wir geschlossen; wir sind {when} wieder für Sie da.",
            "weekend": "Am Wochenende haben wir geschlossen; wir sind {when} wieder für Sie da.",
            "holiday": "Wegen eines Feiertags haben wir geschlossen; "
                       "wir sind {when} wieder für Sie da.",
            "closed": "Wir haben gerade geschlossen; wir sind {when} wieder für Sie da.",
        },
    ),
    "bg": Wording(
        hours="Работно време: {schedule}, {zone}{holidays}.",
        holidays="; не работим в официалните празници на {country}",
        day_range="от {first} до {last}", one_day="{day}", interval="{start}–{end} ч.",
        around_the_clock="денонощно", every_day="всеки ден",
        group="{days}, {hours}", group_separator="; ", zone="generic",
        today="днес в {time} ч.", tomorrow="утре в {time} ч.", weekday="{in} {day} в {time} ч.",
        far="{in} {date} в {time} ч.", far_date="EEEE, d MMMM",
        back={
            "early": "Все още не сме започнали работа; ще бъдем на разположение {when}",
            "break": "В момента сме в кратка почивка; отново сме на разположение {when}",
            "evening": "За днес приключихме работа; отново сме на разположение {when}",
            "weekend": "През уикенда не работим; отново сме на разположение {when}",
            "holiday": "Поради официален празник не работим; "
                       "отново сме на разположение {when}",
            "closed": "В момента не работим; отново сме на разположение {when}",
        },
    ),
}


def wording(language: str) -> tuple[Wording, Locale]:
    """The wording and Babel locale of ``language`` ("fr", "de-AT"); English words for a
    language without a wording, with that language's Babel names."""
    found = babel_locale(language)
    if found.language not in _WORDINGS:
        return _EN, babel_locale("en")
    return _WORDINGS[found.language], found


def _clock(minutes: int, locale: Locale) -> str:
    if minutes >= 24 * 60:
        return format_time(time(0), "short", locale=locale).replace("00", "24", 1)
    return format_time(time(minutes // 60, minutes % 60), "short", locale=locale)


def _spanish_at(text: str) -> str:
    """"a la 1:00", "a las 9:00": the article agrees with the hour as written."""
    return "a la" if text.startswith(("1:", "01:")) else "a las"


def _bulgarian_in(word: str) -> str:
    """"в понеделник", but "във вторник": в becomes във before в and ф."""
    return "във" if word[:1].lower() in "вф" else "в"


def _zone_name(calendar: BusinessCalendar, words: Wording, locale: Locale,
               now: datetime) -> str:
    zone = calendar.zone
    if _placeless(zone):
        return "UTC"
    if words.zone == "generic":
        name = get_timezone_name(now.astimezone(zone), "long", zone_variant="generic",
                                 locale=locale)
        if not any(ch.isdigit() for ch in name):
            return name[:1].lower() + name[1:] if locale.language == "bg" else name
        return _city(zone, locale)
    return words.zone.format(city=_city(zone, locale))


def describe_hours(calendar: BusinessCalendar, language: str, now: datetime) -> str:
    """The opening hours as one sentence in ``language`` (``now`` picks the zone's name
    on the rare zones whose generic name changes)."""
    words, locale = wording(language)
    days = locale.days["format"]["wide"]
    parts: list[str] = []
    groups = week_groups(calendar)
    for group in groups:
        if group.first == 0 and group.last == _WEEK - 1:
            day_text = words.every_day
        elif group.first == group.last:
            day_text = words.one_day.format(day=days[group.first])
        elif group.last == group.first + 1:  # "Monday and Tuesday", not "Monday to Tuesday"
            day_text = format_list([days[group.first], days[group.last]], locale=locale)
        else:
            day_text = words.day_range.format(first=days[group.first], last=days[group.last])
        if group.intervals == (_FULL_DAY,):
            hours_text = words.around_the_clock
        else:
            hours_text = format_list(
                [words.interval.format(start=_clock(a, locale), end=_clock(b, locale))
                 for a, b in group.intervals], locale=locale)
            if words.interval.endswith(" Uhr") or words.interval.endswith(" ч."):
                # "09:00–12:00 und 13:00–17:00 Uhr": the unit once, at the end
                unit = words.interval[words.interval.rindex("}") + 1:]
                hours_text = hours_text.replace(unit, "") + unit
        parts.append(words.group.format(days=day_text, hours=hours_text))
    code = calendar.holiday_code
    holidays = ""
    if code:
        country = code.split("-")[0].strip().upper()
        holidays = words.holidays.format(country=locale.territories.get(country, country))
    return words.hours.format(schedule=words.group_separator.join(parts),
                              zone=_zone_name(calendar, words, locale, now),
                              holidays=holidays)


def describe_reopening(calendar: BusinessCalendar, language: str, now: datetime) -> str:
    """"We're closed for the weekend; we'll be back on Monday at 09:00." in ``language``;
    the empty string while the team is open."""
    found = reopening(calendar, now)
    if found is None:
        return ""
    words, locale = wording(language)
    local = found.at.astimezone(calendar.zone)
    clock = format_time(local.time(), "short", locale=locale)
    day_name = locale.days["format"]["wide"][local.weekday()]
    fields = {"time": clock, "at": _spanish_at(clock), "day": day_name,
              "in": _bulgarian_in(day_name)}
    if found.days_ahead == 0:
        when = words.today.format(**fields)
    elif found.days_ahead == 1:
        when = words.tomorrow.format(**fields)
    elif found.days_ahead < _WEEK:
        when = words.weekday.format(**fields)
    else:
        day_text = format_date(local.date(), words.far_date, locale=locale)
        when = words.far.format(date=day_text, **{k: v for k, v in fields.items()
                                                   if k != "day"})
    sentence = words.back[found.closure].format(when=when)
    return sentence if sentence.endswith(".") else sentence + "."
