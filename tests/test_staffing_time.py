"""Staffing takes its handle time from what agents recorded with `#time` in their
replies, through the real agent path (in process, maildir transport)."""

from __future__ import annotations

import json
from datetime import timedelta

import time_machine
from click.testing import CliRunner

from mailticket.cli import main
from tests.conftest import reply
from tests.test_agents_inprocess import MONDAY, at
from tests.test_time_command import desk  # noqa: F401  (the fixture)


def test_the_minutes_agents_record_are_the_handle_time(desk) -> None:  # noqa: F811
    d, path = desk

    def staffing() -> dict:
        with time_machine.travel(MONDAY + timedelta(days=1), tick=False):
            r = CliRunner().invoke(main, ["--config", str(path), "staffing", "--json"])
        assert r.exit_code == 0, r.output
        return json.loads(r.output)["departments"][0]

    before = staffing()
    assert before["handle_time_source"] == "configured"
    notification = d.inbox("alice")[0]
    d.receive(reply(notification, at("alice"), "#time 12m\n\nPlease unplug it first.\n"))
    d.receive(reply(notification, at("bob"), "#time 1h30m\n"))
    after = staffing()
    assert (after["handle_time_source"], after["handle_time_seconds"]) == ("recorded", 3060.0)
    assert after["customer_messages"] == 1
