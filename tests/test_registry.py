"""Daemons in the database: `status` lists the live ones, and a pid tells a dead or
reused process from the one that registered."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from mailticket.clock import Clock
from mailticket.daemons import process_alive
from tests.conftest import cli_json, start_daemon, stop_daemon

pytestmark = pytest.mark.integration


def _status_text(w) -> str:
    return subprocess.run([sys.executable, "-m", "mailticket", "--config", str(w.config_path),
                           "status"], capture_output=True, text=True, check=True).stdout


def _daemons_once_listed(w, timeout: float = 30.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if daemons := cli_json(w, "status")["daemons"]:
            return daemons
        time.sleep(0.2)
    raise AssertionError("the daemon never appeared in status")


def test_status_lists_the_running_daemon_and_forgets_it_when_it_stops(make_world, tmp_path):
    w = make_world()
    assert cli_json(w, "status")["daemons"] == []
    with open(tmp_path / "daemon.log", "wb") as log:
        proc = start_daemon(w, log)
        try:
            [d] = _daemons_once_listed(w)
            assert (d["host"], d["pid"], d["command"]) == (socket.gethostname(), proc.pid,
                                                           "run")
            assert d["started_at"] <= d["heartbeat_at"]
            deadline = time.monotonic() + 10  # a lone daemon holds every mailbox
            while d["mailboxes"] != ["sales", "support"] and time.monotonic() < deadline:
                time.sleep(0.1)
                [d] = cli_json(w, "status")["daemons"]
            assert d["mailboxes"] == ["sales", "support"]
            time.sleep(2.5)  # a heartbeat later
            [again] = cli_json(w, "status")["daemons"]
            assert again["heartbeat_at"] > d["heartbeat_at"]
            lines = [ln for ln in _status_text(w).splitlines() if ln.startswith("daemon ")]
            assert len(lines) == 1 and f"pid {proc.pid}" in lines[0], lines
            assert lines[0].endswith("mailboxes sales, support"), lines
        finally:
            stop_daemon(proc)
        assert cli_json(w, "status")["daemons"] == []  # a clean stop deregisters

        proc = start_daemon(w, log)
        [d] = _daemons_once_listed(w)
        proc.kill()
        proc.wait()
    # Killed: gone from status at once, not after its heartbeat ages.
    assert cli_json(w, "status")["daemons"] == []
    assert "no daemon running" in _status_text(w)


def test_a_pid_is_alive_only_while_it_is_the_process_that_registered():
    now = Clock().now()
    assert process_alive(os.getpid(), now)
    # Registered a day ago, before this process started: the pid was reused.
    assert not process_alive(os.getpid(), now - timedelta(days=1))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert not process_alive(gone.pid, now)
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    stat = Path(f"/proc/{zombie.pid}/stat")
    while stat.read_text().rsplit(")", 1)[1].split()[0] != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert not process_alive(zombie.pid, now)
    zombie.wait()
