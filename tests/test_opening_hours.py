"""The opening hours and the "we're back on …" line of the auto-response, per language."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mailticket.outgoing.hours import (
    describe_hours,
    describe_reopening,
    next_opening,
    reopening,
    week_groups,
)
from mailticket.outgoing.templates import Templates
from mailticket.sla.calendar import BusinessCalendar

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
PARIS = BusinessCalendar("Europe/Paris", dict.fromkeys(WEEKDAYS, "09:00-17:00"), holidays="FR")
# Saturday 28 November 2026, 11:00 in Paris; Monday 30 November, 10:00 in Paris.
SATURDAY = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
MONDAY_OPEN = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)

HOURS = {
    "en": "Our opening hours: Monday to Friday, 09:00–17:00, Paris time; "
          "closed on public holidays in France.",
    "fr": "Nos horaires : du lundi au vendredi, de 09:00 à 17:00, heure de Paris ; "
          "fermé les jours fériés (France).",
    "sv": "Våra öppettider: måndag–fredag 09:00–17:00, centraleuropeisk tid; "
          "stängt på allmänna helgdagar i Frankrike.",
    "es": "Nuestro horario: de lunes a viernes, de 9:00 a 17:00, hora de París; "
          "cerrado los días festivos en Francia.",
    "de": "Unsere Öffnungszeiten: Montag bis Freitag, 09:00–17:00 Uhr, Mitteleuropäische Zeit; "
          "an gesetzlichen Feiertagen (Frankreich) geschlossen.",
    "bg": "Работно време: от понеделник до петък, 9:00–17:00 ч., централноевропейско време; "
          "не работим в официалните празници на Франция.",
}
WEEKEND = {
    "en": "We're closed for the weekend; we'll be back on Monday at 09:00.",
    "fr": "Nous sommes fermés pour le week-end ; nous serons de retour lundi à 09:00.",
    "sv": "Vi har stängt över helgen; vi är tillbaka på måndag kl. 09:00.",
    "es": "Estamos cerrados por el fin de semana; volveremos el lunes a las 9:00.",
    "de": "Am Wochenende haben wir geschlossen; wir sind am Montag um 09:00 Uhr wieder für Sie da.",
    "bg": "През уикенда не работим; отново сме на разположение в понеделник в 9:00 ч.",
}


@pytest.mark.parametrize("lang", sorted(HOURS))
def test_hours_in_each_language(lang):
    assert describe_hours(PARIS, lang, SATURDAY) == HOURS[lang]


@pytest.mark.parametrize("lang", sorted(WEEKEND))
def test_closed_for_the_weekend_on_a_saturday(lang):
    assert describe_reopening(PARIS, lang, SATURDAY) == WEEKEND[lang]


@pytest.mark.parametrize("lang", sorted(WEEKEND))
def test_nothing_said_while_open(lang):
    assert describe_reopening(PARIS, lang, MONDAY_OPEN) == ""


def test_a_language_without_wording_is_told_in_english():
    assert describe_hours(PARIS, "it", SATURDAY) == HOURS["en"]
    assert describe_reopening(PARIS, "it", SATURDAY) == WEEKEND["en"]


def test_friday_evening_is_the_weekend_and_a_weekday_evening_is_the_day():
    friday_evening = datetime(2026, 11, 27, 19, 0, tzinfo=UTC)
    assert describe_reopening(PARIS, "en", friday_evening) == WEEKEND["en"]
    tuesday_evening = datetime(2026, 11, 24, 19, 0, tzinfo=UTC)
    assert describe_reopening(PARIS, "en", tuesday_evening) == (
        "We're closed for the day; we'll be back tomorrow at 09:00.")
    early = datetime(2026, 11, 24, 5, 0, tzinfo=UTC)  # 06:00 in Paris
    assert describe_reopening(PARIS, "en", early) == (
        "We're not open yet; we'll be there today at 09:00.")


def test_public_holiday_and_extra_closed_day():
    # Friday 25 December 2026 is Christmas in France: Thursday evening, back on Monday.
    christmas_eve = datetime(2026, 12, 24, 20, 0, tzinfo=UTC)
    assert describe_reopening(PARIS, "en", christmas_eve) == (
        "We're closed for a public holiday; we'll be back on Monday at 09:00.")
    assert describe_reopening(PARIS, "de", christmas_eve) == (
        "Wegen eines Feiertags haben wir geschlossen; "
        "wir sind am Montag um 09:00 Uhr wieder für Sie da.")
    inventory = BusinessCalendar("Europe/Paris", dict.fromkeys(WEEKDAYS, "09:00-17:00"),
                                 closed=["2026-11-25"])
    assert reopening(inventory, datetime(2026, 11, 25, 10, 0, tzinfo=UTC)).closure == "closed"
    assert describe_reopening(inventory, "fr", datetime(2026, 11, 25, 10, 0, tzinfo=UTC)) == (
        "Nous sommes fermés en ce moment ; nous serons de retour demain à 09:00.")


def test_a_long_closure_names_the_date():
    summer = BusinessCalendar("Europe/Paris", dict.fromkeys(WEEKDAYS, "09:00-17:00"),
                              closed=[f"2026-08-{d:02d}" for d in range(3, 22)])
    friday = datetime(2026, 7, 31, 18, 0, tzinfo=UTC)
    assert describe_reopening(summer, "en", friday) == (
        "We're closed at the moment; we'll be back on Monday 24 August at 09:00.")
    assert describe_reopening(summer, "es", friday) == (
        "Ahora mismo estamos cerrados; volveremos el lunes 24 de agosto a las 9:00.")


def test_split_days_and_a_lunch_break():
    split = BusinessCalendar("Europe/Stockholm",
                             dict.fromkeys(WEEKDAYS, "08:00-12:00,13:00-16:30"))
    assert describe_hours(split, "sv", SATURDAY) == (
        "Våra öppettider: måndag–fredag 08:00–12:00 och 13:00–16:30, centraleuropeisk tid.")
    assert describe_hours(split, "de", SATURDAY) == (
        "Unsere Öffnungszeiten: Montag bis Freitag, 08:00–12:00 und 13:00–16:30 Uhr, "
        "Mitteleuropäische Zeit.")
    lunch = datetime(2026, 11, 24, 11, 30, tzinfo=UTC)  # 12:30 in Stockholm
    assert reopening(split, lunch).closure == "break"
    assert describe_reopening(split, "sv", lunch) == (
        "Vi har en kort paus; vi är tillbaka i dag kl. 13:00.")


def test_different_hours_per_day():
    shop = BusinessCalendar("Europe/Madrid", {
        "mon": "09:00-14:00,16:00-19:00", "tue": "09:00-14:00,16:00-19:00",
        "wed": "09:00-14:00", "thu": "09:00-14:00", "sat": "10:00-13:00"})
    assert [(g.first, g.last) for g in week_groups(shop)] == [(0, 1), (2, 3), (5, 5)]
    assert describe_hours(shop, "es", SATURDAY) == (
        "Nuestro horario: lunes y martes, de 9:00 a 14:00 y de 16:00 a 19:00; "
        "miércoles y jueves, de 9:00 a 14:00; sábado, de 10:00 a 13:00, hora de Madrid.")
    # Thursday evening: Friday is closed but it is not a weekend day.
    thursday = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)
    assert describe_reopening(shop, "es", thursday) == (
        "Ahora mismo estamos cerrados; volveremos el sábado a las 10:00.")


def test_a_department_open_around_the_clock_is_never_closed():
    always = BusinessCalendar("Europe/Sofia", {d: "00:00-24:00" for d in (
        "mon", "tue", "wed", "thu", "fri", "sat", "sun")})
    assert describe_hours(always, "bg", SATURDAY) == (
        "Работно време: всеки ден, денонощно, източноевропейско време.")
    assert describe_hours(always, "en", SATURDAY) == (
        "Our opening hours: every day, around the clock, Sofia time.")
    for hour in range(0, 24 * 7, 5):
        instant = datetime(2026, 11, 23, tzinfo=UTC).replace(hour=hour % 24, day=23 + hour // 24)
        assert describe_reopening(always, "bg", instant) == ""
    weekdays_only = BusinessCalendar("UTC", dict.fromkeys(WEEKDAYS, "00:00-24:00"))
    assert describe_hours(weekdays_only, "en", SATURDAY) == (
        "Our opening hours: Monday to Friday, around the clock, UTC.")
    assert describe_reopening(weekdays_only, "en", SATURDAY) == (
        "We're closed for the weekend; we'll be back on Monday at 00:00.")


def test_dst_night_the_reopening_is_the_local_hour():
    # Clocks go forward in Paris on Sunday 28 March 2027: Monday 09:00 is 07:00 UTC.
    saturday = datetime(2027, 3, 27, 12, 0, tzinfo=UTC)
    plain = BusinessCalendar("Europe/Paris", dict.fromkeys(WEEKDAYS, "09:00-17:00"))
    assert next_opening(plain, saturday) == datetime(2027, 3, 29, 7, 0, tzinfo=UTC)
    assert describe_reopening(plain, "en", saturday) == WEEKEND["en"]
    # With French holidays that Monday is Easter Monday: back on Tuesday.
    assert describe_reopening(PARIS, "en", saturday) == (
        "We're closed for a public holiday; we'll be back on Tuesday at 09:00.")
    # And back on Sunday 31 October 2027: Monday 09:00 is 08:00 UTC.
    autumn = datetime(2027, 10, 30, 12, 0, tzinfo=UTC)
    assert next_opening(plain, autumn) == datetime(2027, 11, 1, 8, 0, tzinfo=UTC)
    # 1 November is a public holiday in France: back on Tuesday.
    assert next_opening(PARIS, autumn) == datetime(2027, 11, 2, 8, 0, tzinfo=UTC)
    # A night office open across the spring-forward hour: 01:00-04:00 is two real hours.
    night = BusinessCalendar("Europe/Paris", {"sun": "01:00-04:00"})
    assert describe_reopening(night, "en", datetime(2027, 3, 28, 0, 30, tzinfo=UTC)) == ""
    closed_at_four = datetime(2027, 3, 28, 2, 0, tzinfo=UTC)  # 04:00 CEST
    assert next_opening(night, closed_at_four) == datetime(2027, 4, 3, 23, 0, tzinfo=UTC)
    assert describe_reopening(night, "en", closed_at_four) == (
        "We're closed at the moment; we'll be back on Sunday 4 April at 01:00.")


def test_the_auto_response_carries_hours_after_the_promise():
    promise_day = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    for dept in ("support", "sales"):
        text, used = Templates().render(
            "auto_response.txt.j2", dept_name=dept, dept_dir=None, languages=["fr"],
            customer_name="Marie", department="Example", ref="[Support #3]",
            subject="Imprimante", due_at=promise_day, timezone="Europe/Paris", ticket_id=3,
            calendar=PARIS, now=SATURDAY, faq=[])
        assert used == "fr"
        # One paragraph (the reader's client wraps it): promise, hours, when we're back.
        [paragraph] = [p for p in text.split("\n\n") if "lundi 30 novembre 2026" in p]
        assert "\n" not in paragraph
        assert paragraph.endswith(f"(heure de Paris). {HOURS['fr']} {WEEKEND['fr']}") or \
            paragraph.endswith(f"(heure de Paris) {HOURS['fr']} {WEEKEND['fr']}"), paragraph
        text, _ = Templates().render(
            "auto_response.txt.j2", dept_name=dept, dept_dir=None, languages=["fr"],
            customer_name="Marie", department="Example", ref="[Support #3]",
            subject="Imprimante", due_at=promise_day, timezone="Europe/Paris", ticket_id=3,
            calendar=PARIS, now=MONDAY_OPEN, faq=[])
        assert HOURS["fr"] in text and "week-end" not in text
