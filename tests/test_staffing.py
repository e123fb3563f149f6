"""`mailticket staffing` over stored mail, as an admin runs it (Paris, weekdays
09:00-17:00, a promise of 4 business hours)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import time_machine
from click.testing import CliRunner

from mailticket.cli import main
from mailticket.clock import FixedClock
from mailticket.config import parse_config
from mailticket.sla.calendar import parse_duration
from mailticket.sla.clock import promise
from mailticket.staffing import _dues
from mailticket.store.models import Event
from tests.corpora import HELPDESK_DOMAIN, throwaway_app
from tests.test_report import CALENDAR

PARIS = ZoneInfo("Europe/Paris")


def paris(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=PARIS).astimezone(UTC)


def desk(folder: Path, extra: str = "") -> tuple[FixedClock, object]:
    app = throwaway_app(folder, CALENDAR + extra)
    clock = FixedClock(paris(2, 8))
    app.clock = clock
    n = 0
    # Two weeks (Mon 2 .. Sun 15 November): a mail every 3 hours, day and night.
    t = paris(2, 0)
    while t < paris(16, 0):
        n += 1
        clock.at = t
        raw = (f"From: c{n}@customer.example\r\nTo: support@{HELPDESK_DOMAIN}\r\n"
               f"Subject: Question {n}\r\nMessage-ID: <s{n}@customer.example>\r\n\r\n"
               "Hello, my printer has stopped printing and shows a blinking light.\r\n"
               ).encode()
        assert app.ingest(raw, department="support", source="test").ticket_id
        t += timedelta(hours=3)
    return clock, app


def run(folder: Path, *args: str) -> tuple[int, str]:
    with time_machine.travel(paris(16, 0), tick=False):
        r = CliRunner().invoke(main, ["--config", str(folder / "config.toml"), "staffing",
                                      *args])
    return r.exit_code, r.output


def test_staffing_names_the_agents_needed_per_open_hour_and_the_monday(tmp_path: Path) -> None:
    desk(tmp_path)
    code, out = run(tmp_path, "--weeks", "2", "--json")
    assert code == 0, out
    (d,) = json.loads(out)["departments"]
    assert (d["department"], d["weeks"], d["target"]) == ("support", 2, 0.95)
    assert d["customer_messages"] == 112
    # Nobody recorded #time: the configured 10 minutes.
    assert (d["handle_time_source"], d["handle_time_seconds"]) == ("configured", 600.0)
    needed = d["needed"]
    assert len(needed) == 7 and all(len(row) == 24 for row in needed)
    assert all(n == 0 for row in needed[5:] for n in row)  # the weekend: closed
    assert all(needed[day][h] == 0 for day in range(5) for h in (*range(9), *range(17, 24)))
    assert d["kept_ratio"] >= 0.95
    # The two configured agents keep everything of this light load.
    assert (d["current"]["agents_on_duty"], d["current"]["kept_ratio"]) == (2, 1.0)
    assert d["current"]["roster"][0][8:18] == [0, 2, 2, 2, 2, 2, 2, 2, 2, 0]
    assert d["worst_day"]["weekday"] == "Monday"

    text_code, text = run(tmp_path, "--weeks", "2")
    assert text_code == 0 and "worst day: Monday" in text and "(configured)" in text


def test_recorded_time_is_used_and_more_mail_is_asked_for(tmp_path: Path) -> None:
    _, app = desk(tmp_path)
    with app.db.transaction() as s:  # what an agent's "#time 45m" records
        s.add(Event(ticket_id=1, at=paris(3, 10), kind="time_spent", actor="alice",
                    detail={"minutes": 45}))
    code, out = run(tmp_path, "--weeks", "2", "--json")
    (d,) = json.loads(out)["departments"]
    assert (d["handle_time_source"], d["handle_time_seconds"]) == ("recorded", 2700.0)
    _, more = run(tmp_path, "--weeks", "2", "--volume", "+100%", "--json")
    (m,) = json.loads(more)["departments"]
    assert m["customer_messages"] == 224
    assert sum(map(sum, m["needed"])) >= sum(map(sum, d["needed"]))
    assert m["current"]["kept_ratio"] <= d["current"]["kept_ratio"]


def test_bad_options_are_refused_naming_them(tmp_path: Path) -> None:
    throwaway_app(tmp_path, CALENDAR)
    code, out = run(tmp_path, "--volume", "lots")
    assert code == 2 and "--volume" in out
    code, out = run(tmp_path, "--target", "1.5")
    assert code == 2 and "--target" in out


def test_due_instants_match_the_promise_also_while_closed() -> None:
    config = parse_config(CALENDAR.split("[sla]")[0] + """
[[departments]]
name = "support"
address = "support@example.com"
""", "x.toml")
    cal = config.calendar_for(config.departments[0])
    at = [paris(6, 0) + timedelta(minutes=7 * i) for i in range(4 * 24 * 60 // 7)]
    for text in ("4 business hours", "1 business day", "8 hours"):
        response = parse_duration(text)
        assert _dues(cal, PARIS, response, at) == [promise(cal, response, t) for t in at], text
