"""``mailticket health``: one verdict with its reasons, from the database alone."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mailticket.app import App
from mailticket.config import parse_config
from mailticket.ops.health import Facts, Mailbox, judge, verdict
from tests.conftest import World, mail, start_daemon, stop_daemon, world_config
from tests.mailservers import Dovecot, SmtpRelay

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def facts(**kw: object) -> Facts:
    base: dict[str, object] = dict(
        now=NOW, mailboxes=[Mailbox("support", 60, NOW - timedelta(seconds=30), None, None)],
        listener=False, daemons_alive=1, daemons_silent=[], outbox_oldest=None,
        outbox_waiting=0, outbox_failed_today=0, quarantined=0, quarantined_today=0,
        breached={"support": 0})
    return Facts(**{**base, **kw})  # type: ignore[arg-type]


def by_name(f: Facts) -> dict[str, tuple[str, str]]:
    return {c.name: (c.status, c.detail) for c in judge(f)}


def test_all_flowing_is_ok() -> None:
    checks = judge(facts())
    assert verdict(checks) == "ok"
    assert [c.name for c in checks] == ["fetch:support", "daemons", "outbox", "quarantine",
                                        "sla:support"]


def test_a_failing_mailbox_is_critical_and_says_why() -> None:
    box = Mailbox("support", 60, NOW - timedelta(minutes=5), NOW - timedelta(seconds=10),
                  "ConnectionRefusedError: [Errno 111] Connection refused")
    status, detail = by_name(facts(mailboxes=[box]))["fetch:support"]
    assert status == "critical"
    assert "Connection refused" in detail and "10 s ago" in detail and "5 min" in detail


def test_a_mailbox_not_fetched_for_a_while_warns_then_is_critical() -> None:
    late = Mailbox("support", 60, NOW - timedelta(minutes=4), None, None)
    assert by_name(facts(mailboxes=[late]))["fetch:support"][0] == "warning"
    stale = Mailbox("support", 60, NOW - timedelta(minutes=20), None, None)
    assert by_name(facts(mailboxes=[stale]))["fetch:support"][0] == "critical"


def test_no_daemon_is_critical_when_something_must_fetch_or_listen() -> None:
    got = by_name(facts(daemons_alive=0))
    assert got["daemons"][0] == "critical" and "nothing fetches" in got["daemons"][1]
    assert by_name(facts(daemons_alive=0, mailboxes=[]))["daemons"][0] == "ok"
    assert by_name(facts(daemons_alive=0, mailboxes=[], listener=True))["daemons"][0] == \
        "critical"
    assert by_name(facts(daemons_silent=["mx1 pid 42"]))["daemons"] == (
        "warning", "1 running; stopped without deregistering: mx1 pid 42")


def test_outbox_quarantine_and_breaches() -> None:
    assert by_name(facts(outbox_oldest=NOW - timedelta(minutes=1), outbox_waiting=3))[
        "outbox"][0] == "ok"
    assert by_name(facts(outbox_oldest=NOW - timedelta(minutes=10), outbox_waiting=3))[
        "outbox"] == ("warning", "3 waiting, the oldest for 10 min")
    assert by_name(facts(outbox_oldest=NOW - timedelta(hours=2), outbox_waiting=3))[
        "outbox"][0] == "critical"
    assert by_name(facts(outbox_failed_today=1))["outbox"][0] == "warning"
    assert by_name(facts(quarantined_today=2, quarantined=5))["quarantine"][0] == "warning"
    assert by_name(facts(breached={"support": 3}))["sla:support"] == (
        "warning", "3 ticket(s) past their promise")
    assert verdict(judge(facts(breached={"support": 3}))) == "warning"


def _health(config: Path) -> tuple[int, dict]:
    r = subprocess.run([sys.executable, "-m", "mailticket", "--config", str(config), "health",
                        "--json"], capture_output=True, text=True, timeout=60)
    return r.returncode, json.loads(r.stdout)


def _wait(config: Path, status: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        code, got = _health(config)
        if got["status"] == status or time.monotonic() > deadline:
            return {"code": code, **got}
        time.sleep(0.5)


@pytest.mark.integration
def test_health_over_a_running_daemon_and_a_mail_server_that_stops(tmp_path: Path) -> None:
    with Dovecot(tmp_path / "dovecot") as dovecot, SmtpRelay(dovecot) as relay:
        domain = f"h-{uuid.uuid4().hex[:6]}.example"
        text = world_config(dovecot, relay, domain, f"sqlite:///{tmp_path}/h.db",
                            poll_interval=0.5)
        path = tmp_path / "h.toml"
        path.write_text(text)
        app = App(parse_config(text, str(path)))
        app.ensure_schema()
        w = World(dovecot, relay, domain, path, app.config, app)
        # Nothing runs yet: the mailboxes were never fetched and no daemon is there.
        code, before = _health(path)
        assert code == 1 and before["status"] == "critical"
        assert {c["name"]: c["status"] for c in before["checks"]}["daemons"] == "critical"
        with open(tmp_path / "daemon.log", "wb") as log:
            proc = start_daemon(w, log)
            try:
                w.deliver("support", mail(f"ann@{domain}", w.addr("support"), "Hello",
                                          "Is this thing on?"))
                ok = _wait(path, "ok")
                assert ok["code"] == 0, ok
                dovecot.stop()
                down = _wait(path, "critical")
                assert down["code"] == 1, down
                failing = {c["name"]: c for c in down["checks"]}
                assert failing["fetch:support"]["status"] == "critical"
                assert "the last fetch failed" in failing["fetch:support"]["detail"]
                assert failing["daemons"]["status"] == "ok"  # the daemon itself is fine
                dovecot.start()
                assert _wait(path, "ok")["code"] == 0
            finally:
                stop_daemon(proc)
        app.close()
        out = subprocess.run([sys.executable, "-m", "mailticket", "--config", str(path),
                              "health"], capture_output=True, text=True, timeout=60)
        assert out.returncode == 1 and out.stdout.startswith("CRITICAL")
        assert "no `mailticket run` has a fresh heartbeat" in out.stdout
