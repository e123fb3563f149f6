"""Only an answer in time is ``met``: a ticket closed without any answer is not."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from mailticket.cli import main
from mailticket.clock import FixedClock
from mailticket.sla.clock import stop_clock
from mailticket.sla.state import sla_state
from tests.conftest import mail

DUE = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)


def running() -> SimpleNamespace:
    return SimpleNamespace(due_at=DUE, warn_at=DUE - timedelta(hours=2),
                           clock_started_at=DUE - timedelta(days=1), next_notice_at=None,
                           answered_at=None, last_due_at=None)


@pytest.mark.parametrize(("answered", "stopped", "want"), [
    (True, DUE - timedelta(hours=1), "met"),
    (True, DUE + timedelta(hours=1), "breached"),  # answered late
    (False, DUE - timedelta(hours=1), None),  # closed unanswered before its due
    (False, DUE + timedelta(hours=1), "breached"),  # closed unanswered after its due
])
def test_how_a_clock_ends(answered, stopped, want):
    t = running()
    stop_clock(t, stopped, answered=answered)
    assert t.due_at is None
    later = DUE + timedelta(days=30)  # a stopped clock's outcome does not move on
    assert sla_state(t, stopped) == sla_state(t, later) == want
    assert (t.answered_at is not None) is (answered is True)


def show(w, ticket_id="1"):
    r = CliRunner().invoke(main, ["--config", str(w.config_path), "show", ticket_id, "--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


def close(w, ticket_id="1"):
    r = CliRunner().invoke(main, ["--config", str(w.config_path), "close", "--quiet", ticket_id])
    assert r.exit_code == 0, r.output


@pytest.mark.integration
def test_closed_without_answer_before_its_due_is_not_met(make_world):
    w = make_world()
    w.deliver("support", mail(f"jane@{w.domain}", w.addr("support"), "Hello", "x"))
    w.poll()
    assert show(w)["sla"] == "on_track"
    close(w)
    t = show(w)
    assert (t["state"], t["sla"]) == ("closed", None)
    r = CliRunner().invoke(main, ["--config", str(w.config_path), "tickets", "--json"])
    assert json.loads(r.output)[0]["sla"] is None


@pytest.mark.integration
def test_closed_without_answer_after_its_due_stays_breached(make_world):
    # The mail came in a week ago (the in-process app's clock); the CLI closes it now.
    w = make_world(clock=FixedClock(datetime.now(UTC) - timedelta(days=7)))
    w.deliver("support", mail(f"jane@{w.domain}", w.addr("support"), "Hello", "x"))
    w.poll()
    assert show(w)["sla"] == "breached"
    close(w)
    t = show(w)
    assert (t["state"], t["due_at"], t["sla"]) == ("closed", None, "breached")
