"""The history in an agent notification: one line per thing a person wrote, at the
department's local time with its zone, like the due time above it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mailticket.clock import FixedClock
from mailticket.outgoing.to_staff import _stamp
from tests.builders import reply
from tests.conftest import body, mail

pytestmark = pytest.mark.integration

MONDAY = datetime(2026, 11, 23, 9, 15, tzinfo=UTC)  # 10:15 in Paris


def history(text: str) -> list[str]:
    lines = text.split("Earlier in this ticket:\n", 1)[1].split("\n\n", 1)[0]
    return [line.strip() for line in lines.splitlines()]


def test_an_answer_shows_once_at_the_departments_time(make_world):
    w = make_world(clock=FixedClock(MONDAY))
    jane = f"Jane <jane@{w.domain}>"
    w.deliver("support", mail(jane, w.addr("support"), "Printer", "It smokes."))
    w.poll()
    [note] = w.wait_inbox("alice", 1)
    w.deliver("support", reply(note, f"alice@{w.domain}", "Unplug it, please.\nAlice"))
    w.poll()
    answer = w.wait_inbox("jane", 2)[-1]
    w.app.clock.advance(timedelta(hours=2))
    follow = mail(jane, w.addr("support"), "Re: [Support #1] Printer", "Done, still smokes.",
                  in_reply_to=answer["Message-ID"])
    del follow["Date"]  # written now: 12:15 in Paris
    w.deliver("support", follow)
    w.poll()
    update = w.wait_inbox("alice", 2)[-1]
    text = body(update)
    assert "Done, still smokes." in text
    # The customer's first mail was dated 10:00 +0100; the answer came at 10:15 Paris time.
    assert history(text) == [
        f"2026-11-23 10:00 CET  customer  jane@{w.domain}: It smokes.",
        f"2026-11-23 10:15 CET  agent  alice@{w.domain}: Unplug it, please. Alice",
    ]
    assert "Due:        Tuesday 24 November 2026, 12:15 CET" in text


def test_a_zone_without_an_abbreviation_shows_its_offset():
    instant = datetime(2026, 7, 1, 9, 30)  # naive: UTC, as SQLite gives it back
    assert _stamp(instant, "Europe/Paris") == "2026-07-01 11:30 CEST"
    assert _stamp(instant, "Europe/Istanbul") == "2026-07-01 12:30 UTC+03:00"
    assert _stamp(instant, "America/St_Johns") == "2026-07-01 07:00 NDT"
    assert _stamp(instant.replace(tzinfo=UTC), "UTC") == "2026-07-01 09:30 UTC"
