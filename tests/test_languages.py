"""The table of languages and the table of outgoing mail kinds are complete: a language
in the table can write every kind of mail, with its words and its dates."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from babel import Locale
from babel.dates import format_date

from mailticket import languages
from mailticket.config import LanguageConfig
from mailticket.incoming.language import LanguageDetector
from mailticket.outgoing import dates
from mailticket.outgoing.kinds import KINDS, TEMPLATES, TO_STAFF
from mailticket.outgoing.templates import builtin_dir

WINTER = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)


@pytest.mark.parametrize("code", languages.CODES)
def test_every_language_has_every_template(code):
    folder = builtin_dir() / code
    assert sorted(p.name for p in folder.glob("*.j2")) == sorted(TEMPLATES), code


def test_every_template_folder_is_a_language_of_the_table():
    """A folder without a row would write its dates and words in English."""
    folders = {p.name for p in builtin_dir().iterdir()
               if p.is_dir() and any(p.glob("*.j2"))}
    assert folders == set(languages.CODES)


@pytest.mark.parametrize("code", languages.CODES)
def test_every_language_has_its_words_and_subject_prefixes(code):
    lang = languages.LANGUAGES[code]
    assert len(lang.words) == len(languages.VALUES) and all(lang.words)
    assert len(lang.subjects) == len(languages.SUBJECT_LABELS) and all(lang.subjects)
    assert languages.label("pending", code) == lang.words[languages.VALUES.index("pending")]
    for key in languages.SUBJECT_LABELS:
        assert lang.subject_label(key)


@pytest.mark.parametrize("code", languages.CODES)
def test_every_language_writes_dates_its_own_way(code):
    lang = languages.LANGUAGES[code]
    assert lang.phrasing is not dates.other
    text = languages.format_instant(WINTER, "Europe/Paris", code)
    weekday = format_date(WINTER.date(), "EEEE", locale=Locale.parse(lang.locale))
    assert weekday in text and "2026" in text


def test_a_language_outside_the_table_gets_babels_pattern_and_english_words():
    assert languages.label("pending", "it") == "pending"
    assert languages.get("it") is languages.ENGLISH
    assert "martedì" in languages.format_instant(WINTER, "Europe/Rome", "it")


def test_the_detector_and_the_config_default_to_the_languages_of_the_table():
    assert frozenset(languages.CODES) == LanguageDetector().languages
    assert LanguageConfig().supported == list(languages.CODES)


def test_every_subject_prefix_a_kind_names_is_in_every_language():
    keys = {k.subject_label for k in KINDS.values() if k.subject_label}
    assert keys == set(languages.SUBJECT_LABELS)


def test_only_mail_to_staff_proves_an_agent_and_only_a_person_writes_without_auto_submitted():
    assert set(TO_STAFF) == {"notification", "note", "agent_copy", "agent_error", "warning",
                             "escalation", "feedback_low"}
    assert not any(KINDS[k].auto_submitted is None for k in TO_STAFF)
