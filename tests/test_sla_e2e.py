"""A wall-clock SLA of seconds over the real servers: the warning reaches the agents,
the escalation the supervisor, each exactly once, with a daemon restart in between."""

from __future__ import annotations

import time

import pytest

from tests.conftest import mail, start_daemon, stop_daemon

pytestmark = pytest.mark.integration


def test_warning_and_escalation_reach_inboxes_once_across_a_restart(make_world, tmp_path):
    w = make_world(sla='response = "8 seconds"\nwarn_at = 0.5\ncheck_interval = 0.3')
    assert str(w.config.sla.response) == "8 seconds"
    log = open(tmp_path / "d.log", "wb")  # noqa: SIM115 - open across two daemon runs
    proc = start_daemon(w, log)
    try:
        t0 = time.monotonic()
        w.deliver("support", mail(f"Jane <jane@{w.domain}>", w.addr("support"),
                                  "Still waiting", "Where is my parcel?"))
        w.wait_inbox("jane", 1, timeout=10)
        alice = w.wait_inbox("alice", 2, timeout=12)  # notification, then the warning
        assert alice[1]["Subject"] == "Due soon: [Support #1] Still waiting"
        assert w.inbox("lead") == []
    finally:
        stop_daemon(proc)
    time.sleep(max(0.0, t0 + 9 - time.monotonic()))  # the promise breaks while we are down
    proc = start_daemon(w, log)
    try:
        [esc] = w.wait_inbox("lead", 1, timeout=10)
        assert esc["Subject"] == "Overdue: [Support #1] Still waiting"
        time.sleep(2.0)  # several more scans
    finally:
        stop_daemon(proc)
        log.close()
    assert len(w.inbox("lead")) == 1
    assert [m["Subject"] for m in w.inbox("alice")] == [
        "[Support #1] Still waiting", "Due soon: [Support #1] Still waiting"]
    assert len(w.inbox("bob")) == 2
