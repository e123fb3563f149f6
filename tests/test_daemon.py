"""The daemon as a separate process: catching up after downtime, clean stop, restart."""

from __future__ import annotations

import time

import pytest

from tests.conftest import cli_json, mail, start_daemon, stop_daemon

pytestmark = pytest.mark.integration


def test_mail_from_downtime_is_processed_once_across_restarts(make_world, tmp_path):
    w = make_world()
    customers = ["ann", "ben", "cid"]
    for c in customers:
        w.deliver("support", mail(f"{c}@{w.domain}", w.addr("support"), f"Question of {c}",
                                  f"Hello from {c}."))
    log_path = tmp_path / "daemon.log"
    with open(log_path, "wb") as log:
        proc = start_daemon(w, log)
        try:
            for c in customers:
                [auto] = w.wait_inbox(c, 1, timeout=30)
                assert auto["Subject"].startswith("Re: [Support #")
        finally:
            took = stop_daemon(proc)
        assert took < 10

        # Second start: nothing new arrived, so nothing is processed or sent again.
        proc = start_daemon(w, log)
        try:
            deadline = time.monotonic() + 4
            while time.monotonic() < deadline:
                status = cli_json(w, "status")
                if all(d["last_fetch"] for d in status["departments"]):
                    break
                time.sleep(0.2)
            time.sleep(1.0)  # more than three poll intervals
        finally:
            stop_daemon(proc)
    assert len(cli_json(w, "tickets")) == 3
    for c in customers:
        assert len(w.inbox(c)) == 1, f"{c} got a second auto-response"
    status = cli_json(w, "status")
    assert status["outbox_depth"] == 0
    assert {d["department"]: d["open"] for d in status["departments"]} == {
        "support": 3, "sales": 0}
    text = log_path.read_text()
    assert "Traceback" not in text
    assert "mailticket stopped" in text
