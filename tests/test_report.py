"""`mailticket report`: a week of mail with known arrival and answer times, its figures
checked against a count written out by hand below (Paris, 09:00-17:00 on weekdays,
a promise of 4 business hours)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path
from zoneinfo import ZoneInfo

import time_machine
from click.testing import CliRunner
from sqlalchemy import select

from mailticket import actions
from mailticket import report as reports
from mailticket.cli import main
from mailticket.clock import FixedClock
from mailticket.store.models import Message
from mailticket.store.writes import writing
from tests.corpora import HELPDESK_DOMAIN, throwaway_app

PARIS = ZoneInfo("Europe/Paris")
CALENDAR = """
[calendar]
timezone = "Europe/Paris"
holidays = "FR"
[calendar.hours]
mon = "09:00-17:00"
tue = "09:00-17:00"
wed = "09:00-17:00"
thu = "09:00-17:00"
fri = "09:00-17:00"
[sla]
response = "4 business hours"
"""
ALICE, BOB = f"alice@{HELPDESK_DOMAIN}", f"bob@{HELPDESK_DOMAIN}"
TEXT = "Hello, my printer has stopped printing and shows a blinking orange light again."


def paris(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=PARIS).astimezone(UTC)


class Desk:
    def __init__(self, folder: Path) -> None:
        self.app = throwaway_app(folder, CALENDAR)
        self.clock = FixedClock(paris(23, 8))
        self.app.clock = self.clock
        self.n = 0

    def at(self, when: datetime) -> Desk:
        self.clock.at = when
        return self

    def customer(self, who: str, subject: str, reply_to: str | None = None) -> str:
        self.n += 1
        refs = f"In-Reply-To: {reply_to}\r\n" if reply_to else ""
        raw = (f"From: {who}@customer.example\r\nTo: support@{HELPDESK_DOMAIN}\r\n"
               f"Subject: {subject}\r\nMessage-ID: <c{self.n}@customer.example>\r\n{refs}"
               f"\r\n{TEXT}\r\n").encode()
        outcome = self.app.ingest(raw, department="support", source="test")
        assert outcome.ticket_id, outcome
        return outcome.message_id

    def answer(self, agent: str, ticket: int) -> None:
        with self.app.db.read() as s:
            raw = next(m.raw for m in s.scalars(select(Message).where(
                Message.ticket_id == ticket, Message.kind == "notification"))
                if agent in m.to)
        note = message_from_bytes(raw, policy=policy.default)
        self.n += 1
        reply = (f"From: {agent}\r\nTo: {note['Reply-To']}\r\nSubject: Re: {note['Subject']}"
                 f"\r\nIn-Reply-To: {note['Message-ID']}\r\nMessage-ID: <a{self.n}@x>\r\n\r\n"
                 "Please switch it off and on again.\r\n").encode()
        outcome = self.app.ingest(reply, department="support", source="test")
        assert outcome.action == "agent_relayed", outcome

    def close(self, ticket: int) -> None:
        with self.app.db.transaction() as s, writing(s) as ws:
            actions.set_state(ws, ticket, "closed", self.clock.now())


def test_the_report_counts_what_a_hand_count_gives(tmp_path: Path) -> None:
    d = Desk(tmp_path)
    # 1: Monday 10:00, due 14:00; Alice answers at 11:30: in time (1h30 business time).
    d.at(paris(23, 10)).customer("jane", "Printer")
    d.at(paris(23, 11, 30)).answer(ALICE, 1)
    # 2: Monday 16:00, due Tuesday 12:00 (1 h + 3 h); Bob answers Tuesday 13:00: late.
    #    Business time 1 h + 4 h; wall clock 21 h.
    scanner = d.at(paris(23, 16)).customer("john", "Scanner")
    d.at(paris(24, 13)).answer(BOB, 2)
    #    John writes again Tuesday 14:00 (due Wednesday 10:00); nobody answers: overdue.
    d.at(paris(24, 14)).customer("john", "Re: Scanner", reply_to=scanner)
    # 3: Wednesday 09:30, closed at 10:00 without an answer, in time: counted nowhere.
    d.at(paris(25, 9, 30)).customer("ann", "Toner")
    d.at(paris(25, 10)).close(3)
    # 4: Wednesday 10:00 (due 14:00), closed Thursday 15:00 without an answer: overdue.
    d.at(paris(25, 10)).customer("bo", "Paper")
    d.at(paris(26, 15)).close(4)
    # 5: Saturday 10:00, due Monday 13:00; not answered yet, not due yet: not counted.
    d.at(paris(28, 10)).customer("eve", "Weekend")
    now = paris(30, 10)

    with d.app.db.read() as s:
        data = reports.build(s, d.app.config, since=paris(23, 0), until=paris(30, 0), now=now)
    (r,) = data["departments"]
    assert (r["tickets"], r["customer_messages"]) == (5, 6)
    assert (r["answered_in_time"], r["answered_late"], r["unanswered_overdue"]) == (1, 1, 2)
    assert r["sla_met_ratio"] == 0.25
    # First responses: 5,400 s and 18,000 s of business time; nearest-rank p90 of two.
    assert r["first_response_business_seconds"] == {"median": 11700.0, "p90": 18000.0}
    assert r["first_response_wall_seconds"] == {"median": 40500.0, "p90": 75600.0}
    assert r["agents"] == [
        {"agent": ALICE, "answers": 1, "median_response_business_seconds": 5400.0},
        {"agent": BOB, "answers": 1, "median_response_business_seconds": 18000.0}]
    expected = [[0] * 24 for _ in range(7)]
    for day, hour in ((0, 10), (0, 16), (1, 14), (2, 9), (2, 10), (5, 10)):
        expected[day][hour] += 1
    assert r["by_hour"] == expected
    assert r["by_day"] == {"2026-11-23": 2, "2026-11-24": 1, "2026-11-25": 2, "2026-11-28": 1}
    assert sum(r["languages"].values()) == 6
    # Open: 1 (pending after its answer), 2 (John wrote again), 5; the oldest running
    # clock is John's second mail.
    assert r["backlog"] == {"open": 3, "oldest_unanswered_since": "2026-11-24T14:00:00+01:00"}
    assert (r["reopened"], r["escalations"], r["solved_by_faq"]) == (0, 0, 0)

    # The same through the command line, as an admin types it.
    args = ["report", "--since", "2026-11-23", "--until", "2026-11-30", "--department",
            "support"]
    with time_machine.travel(now, tick=False):
        cli = CliRunner().invoke(main, ["--config", str(tmp_path / "config.toml"), *args,
                                        "--json"])
        text = CliRunner().invoke(main, ["--config", str(tmp_path / "config.toml"), *args])
    assert cli.exit_code == 0, cli.output
    assert json.loads(cli.output)["departments"] == [r]
    assert "promise kept 25.0 %: 1 answered in time, 1 late, 2 unanswered past due" in text.output
    assert "Mon  " in text.output


def test_a_period_that_ends_before_it_starts_is_refused(tmp_path: Path) -> None:
    Desk(tmp_path)
    r = CliRunner().invoke(main, ["--config", str(tmp_path / "config.toml"), "report",
                                  "--since", "2026-11-30", "--until", "2026-11-23"])
    assert r.exit_code == 2 and "period is empty" in r.output

