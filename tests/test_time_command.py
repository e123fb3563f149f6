"""`#time 12m`: an agent records what an answer took; staffing reads it as handle time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from mailticket.app import App
from mailticket.cli import main
from mailticket.clock import FixedClock
from mailticket.config import parse_config
from mailticket.incoming.replies import MAX_MINUTES, parse_minutes, split_commands
from mailticket.store.models import Event
from tests.builders import ONE_DAY, PARIS_OFFICE, config_toml, department, maildir, sqlite
from tests.conftest import body, mail, reply
from tests.test_agents_inprocess import MONDAY, Desk, at


@pytest.mark.parametrize(("text", "minutes"), [
    ("12m", 12), ("12 min", 12), ("1h30m", 90), ("1h 30m", 90), ("1h30", 90), ("90", 90),
    ("2h", 120), ("45M", 45), (str(MAX_MINUTES), MAX_MINUTES),
])
def test_minutes_are_read_in_the_usual_spellings(text, minutes):
    assert parse_minutes(text) == minutes


@pytest.mark.parametrize("text", ["", "0", "0m", "abc", "1.5h", "-5", "25h", "12 s", "m", "h"])
def test_anything_else_is_not_a_duration(text):
    assert parse_minutes(text) is None


def test_time_is_a_command_line_and_is_cut_from_the_text():
    cmds, text = split_commands("#time 1h30m\n#close\n\nFixed it.\n")
    assert (cmds.minutes, cmds.close, cmds.errors) == (90, True, [])
    assert text.strip() == "Fixed it."
    cmds, _ = split_commands("#time soon\n\nFixed it.")
    assert cmds.minutes is None
    assert cmds.errors and "#time needs the minutes" in cmds.errors[0]
    assert "'soon'" in cmds.errors[0]


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[tuple[Desk, Path]]:
    text = config_toml(
        database=sqlite(tmp_path), outgoing=maildir(tmp_path), calendar=PARIS_OFFICE,
        sla=ONE_DAY, departments=[department("support", "desk.example",
                                             display_name="Example Support",
                                             agents=["alice", "bob"])])
    path = tmp_path / "c.toml"
    path.write_text(text)
    app = App(parse_config(text, str(path)), FixedClock(MONDAY))
    app.ensure_schema()
    d = Desk(app, tmp_path / "sent")
    d.receive(mail(f"Jane Doe <{at('jane')}>", at("support"), "Printer on fire",
                   "Hello,\nmy printer is on fire.\nJane"))
    yield d, path
    app.close()


def time_events(d: Desk) -> list[tuple[str, dict]]:
    with d.app.db.read() as s:
        return [(e.actor, e.detail) for e in s.scalars(
            select(Event).where(Event.kind == "time_spent").order_by(Event.id))]


def test_time_is_recorded_not_relayed_and_shown_in_the_history(desk):
    d, path = desk
    notification = d.inbox("alice")[0]
    d.receive(reply(notification, at("alice"), "#time 12m\n\nPlease unplug it first.\n"))
    got = body(d.inbox("jane")[-1])
    assert got.startswith("Please unplug it first.") and "#time" not in got
    assert time_events(d) == [(at("alice"), {"minutes": 12})]

    # A reply with only the command records it too, and sends the customer nothing.
    d.receive(reply(notification, at("bob"), "#time 1h30m\n"))
    assert len(d.inbox("jane")) == 2
    assert time_events(d) == [(at("alice"), {"minutes": 12}), (at("bob"), {"minutes": 90})]

    shown = CliRunner().invoke(main, ["--config", str(path), "show", "1"])
    assert shown.exit_code == 0, shown.output
    assert "time spent: 12 min  (by alice@desk.example)" in shown.output
    assert "time spent: 90 min  (by bob@desk.example)" in shown.output
    as_json = CliRunner().invoke(main, ["--config", str(path), "show", "1", "--json"])
    events = json.loads(as_json.output)["events"]
    assert [e["detail"] for e in events if e["kind"] == "time_spent"] == [
        {"minutes": 12}, {"minutes": 90}]


def test_a_malformed_time_gets_the_agent_an_error_and_nothing_is_relayed(desk):
    d, _ = desk
    d.receive(reply(d.inbox("alice")[0], at("alice"), "#time a while\n\nDone.\n"))
    err = d.inbox("alice")[-1]
    assert err["Subject"].startswith("Not sent: [Support #1]")
    assert "#time needs the minutes the answer took" in body(err)
    assert len(d.inbox("jane")) == 1
    assert time_events(d) == []
