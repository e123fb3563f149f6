"""Customer mails are not hard-wrapped by us: a paragraph is one line, which the reader's
mail client wraps to its window, so no phrase ("please keep [Support #1] in the subject")
is ever cut at a line our template happened to end.  On the wire, quoted-printable keeps
every line within RFC 2045's 76 characters."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mailticket.clock import FixedClock
from tests.builders import reply
from tests.conftest import body, mail

pytestmark = pytest.mark.integration

MONDAY = datetime(2026, 11, 23, 9, 15, tzinfo=UTC)
LANGUAGES = ("en", "fr", "sv", "es", "bg", "de")
# The sentence that asks to keep the reference, as each language's template words it.
KEEP = {
    "en": "please keep {ref} in the subject so it joins the same ticket.",
    "fr": "en conservant {ref} dans l’objet : il sera ainsi joint au même dossier.",
    "sv": "låt {ref} stå kvar i ämnesraden, så hamnar det i samma ärende.",
    "es": "sin quitar {ref} del asunto; así su mensaje se incorporará a la misma solicitud.",
    "bg": "като запазите {ref} в темата – така съобщението Ви ще бъде добавено",
    "de": "lassen Sie {ref} im Betreff stehen, damit Ihre Nachricht demselben Ticket",
}


def paragraphs(text: str) -> list[str]:
    """The paragraphs before the signature (greeting, sign-off and name keep their lines)."""
    return text.rstrip("\n").split("\n\n")[:-1]


def assert_unwrapped(msg, raw: bytes) -> str:
    text = body(msg)
    assert all("\n" not in p for p in paragraphs(text)), text
    assert all(len(line) <= 76 for line in raw.split(b"\r\n\r\n", 1)[1].split(b"\r\n"))
    return text


@pytest.mark.parametrize("department", ["support", "sales"])
def test_auto_responses_wrap_only_where_the_reader_wraps(make_world, department):
    w = make_world(clock=FixedClock(MONDAY))
    # A long display name pushes every sentence past where a fixed wrap would break it.
    w.reconfigure('display_name = "Example Support"',
                  'display_name = "Example Support for Printers, Scanners and Copiers"')
    for lang in LANGUAGES:
        w.deliver(department, mail(f"Ann Marie Longname-Customer <{lang}@{w.domain}>",
                                   w.addr(department), "Printer", "It smokes.",
                                   headers={"Content-Language": lang}))
    w.poll()
    tag = "Support" if department == "support" else "Sales"
    for n, lang in enumerate(LANGUAGES, 1):
        [auto] = w.wait_inbox(lang, 1)
        raw = w.dovecot.messages(w.addr(lang))[0]
        assert auto["Content-Language"] == lang
        text = assert_unwrapped(auto, raw)
        ref = f"[{tag} #{n}]"
        assert any(ref in line for line in text.splitlines()), text
        if department == "support":
            assert KEEP[lang].format(ref=ref) in text, f"{lang}:\n{text}"


def test_the_closed_notice_is_not_hard_wrapped_either(make_world):
    w = make_world(clock=FixedClock(MONDAY))
    w.deliver("support", mail(f"Jane <jane@{w.domain}>", w.addr("support"), "Printer",
                              "It smokes."))
    w.poll()
    [note] = w.wait_inbox("alice", 1)
    w.deliver("support", reply(note, f"alice@{w.domain}", "#close"))
    w.poll()
    closed = w.wait_inbox("jane", 2)[-1]
    text = assert_unwrapped(closed, w.dovecot.messages(w.addr("jane"))[-1])
    assert "just reply to this mail: the ticket will be reopened" in text
