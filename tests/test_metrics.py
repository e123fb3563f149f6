"""Prometheus metrics of a running daemon, scraped over HTTP and read with
prometheus_client's own parser, after a customer's mail and an agent's answer went
through the real Dovecot and SMTP servers."""

from __future__ import annotations

import re
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.builders import reply
from tests.conftest import mail, start_daemon, stop_daemon
from tests.mailservers import free_port

pytestmark = pytest.mark.integration
DOCS = Path(__file__).resolve().parents[1] / "docs"


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def wait_for(port: int, want: dict, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        got = scrape(port)
        if all(got.get(k) == v for k, v in want.items()) or time.monotonic() > deadline:
            return got
        time.sleep(0.3)


def test_a_daemon_serves_what_the_database_says(make_world, tmp_path):
    port = free_port()
    w = make_world(extra=f'[metrics]\nlisten = "127.0.0.1:{port}"\n')
    with open(tmp_path / "daemon.log", "wb") as log:
        proc = start_daemon(w, log)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    scrape(port)
                    break
                except OSError:
                    assert time.monotonic() < deadline, "metrics never served"
                    time.sleep(0.2)
            w.deliver("support", mail(f"ann@{w.domain}", w.addr("support"), "Printer",
                                      "Hello, my printer is broken. Can you help?"))
            support = (("department", "support"),)
            got = wait_for(port, {
                ("mailticket_mail_received_total",
                 (("department", "support"), ("kind", "customer"))): 1.0,
                ("mailticket_mail_sent_total", (("kind", "auto_response"),)): 1.0,
                ("mailticket_outbox_depth", ()): 0.0,
            })
            assert got[("mailticket_mail_received_total",
                        (("department", "support"), ("kind", "customer")))] == 1.0
            assert got[("mailticket_mail_sent_total", (("kind", "auto_response"),))] == 1.0
            assert got[("mailticket_mail_sent_total", (("kind", "notification"),))] == 2.0
            assert got[("mailticket_outbox_depth", ())] == 0.0
            assert got[("mailticket_tickets", (("department", "support"), ("sla", "open")))] \
                == 1.0
            assert got[("mailticket_oldest_unanswered_age_seconds", support)] >= 0.0
            assert got[("mailticket_fetch_runs_total", support)] >= 1.0
            assert got[("mailticket_last_fetch_success_timestamp_seconds", support)] > \
                time.time() - 60
            assert any(name == "mailticket_build_info" for name, _ in got)
            assert got[("mailticket_first_response_business_seconds_count", support)] == 0.0

            [note] = w.wait_inbox("alice", 1)
            w.deliver("support", reply(note, f"alice@{w.domain}", "Turn it off and on."))
            after = wait_for(port, {
                ("mailticket_first_response_business_seconds_count", support): 1.0,
                ("mailticket_mail_sent_total", (("kind", "agent"),)): 1.0})
            assert after[("mailticket_first_response_business_seconds_count", support)] == 1.0
            assert after[("mailticket_mail_sent_total", (("kind", "agent"),))] == 1.0
            assert after[("mailticket_oldest_unanswered_age_seconds", support)] == 0.0
            # No address or ticket number is ever a label.
            assert not any("@" in v or k == "ticket" for _, labels in after
                           for k, v in labels)
            # The shipped dashboard and alert rules name only metrics that exist.
            served = {name for name, _ in after}
            for doc in ("grafana-dashboard.json", "alerts.yml"):
                named = set(re.findall(r"mailticket_[a-z_]+", (DOCS / doc).read_text()))
                assert named and named <= served, (doc, named - served)
        finally:
            stop_daemon(proc)
