"""Never lose a mail: push, LMTP, outages, UIDVALIDITY, clean stop — over real servers."""

from __future__ import annotations

import logging
import os
import smtplib
import socket
import subprocess
import sys
import time

import pytest
from sqlalchemy.exc import OperationalError

from mailticket.ingest.imap import ImapPoller
from tests.builders import config_toml, department
from tests.conftest import cli_json, mail, start_daemon, stop_daemon

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_idle_push_answers_without_waiting_for_a_poll(make_world, tmp_path):
    # Polls only once a minute: an answer within seconds can only come from IDLE.
    w = make_world(poll_interval=60)
    with open(tmp_path / "d.log", "wb") as log:
        proc = start_daemon(w, log)
        try:
            deadline = time.monotonic() + 15
            while "IDLE" not in (tmp_path / "d.log").read_text() and \
                    time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(1.0)  # the first (start-up) poll is over; IDLE is listening
            latencies = []
            for i in range(3):
                t0 = time.monotonic()
                w.deliver("support", mail(f"p{i}@{w.domain}", w.addr("support"),
                                          f"Push {i}", "Hello"))
                w.wait_inbox(f"p{i}", 1, timeout=20)
                latencies.append(time.monotonic() - t0)
        finally:
            stop_daemon(proc)
    assert max(latencies) < 20, latencies
    print("IDLE reaction times (s):", [round(x, 3) for x in latencies])


def test_lmtp_listener_answers_per_recipient_after_commit(make_world):
    port = free_port()
    w = make_world(extra=f"[listener]\nenabled = true\nprotocol = \"lmtp\"\nport = {port}\n")
    from mailticket.ingest.listener import Listener

    listener = Listener(w.app)
    listener.start()
    try:
        m = mail(f"Jane <jane@{w.domain}>", [w.addr("support"), w.addr("sales")], "Via LMTP",
                 "Delivered by the MTA.")
        with smtplib.LMTP("127.0.0.1", port) as lmtp:
            refused = lmtp.sendmail(f"jane@{w.domain}", [w.addr("support"), w.addr("sales")],
                                    bytes(m))
            assert refused == {}
            # smtplib read the first recipient's reply; RFC 2033 sends one per recipient.
            code, text = lmtp.getreply()
            assert code == 250, text
            # An address that is no department is refused at RCPT time.
            with pytest.raises(smtplib.SMTPRecipientsRefused):
                lmtp.sendmail(f"jane@{w.domain}", [f"nobody@{w.domain}"], bytes(m))
    finally:
        listener.stop()
    [t] = cli_json(w, "tickets")
    assert (t["department"], t["subject"]) == ("support", "Via LMTP")
    w.poll()  # sends the outbox
    assert len(w.wait_inbox("jane", 1)) == 1


def test_imap_outage_is_reported_and_caught_up(make_world, dovecot, caplog):
    w = make_world()
    poller = ImapPoller(w.app, w.config.department("support"))
    w.deliver("support", mail(f"a@{w.domain}", w.addr("support"), "Before", "one"))
    assert poller.run() == 1
    dovecot.stop()
    try:
        with caplog.at_level(logging.WARNING, logger="mailticket"):
            for _ in range(3):
                poller.retry_at = None  # as if the back-off had passed each time
                assert poller.run() == 0
        failing = [r for r in caplog.records if "failing" in r.getMessage()]
        assert len(failing) == 1, "one log line per outage, not one per try"
        assert not any(r.exc_info for r in caplog.records), "no tracebacks"
        status = cli_json(w, "status")
        support = status["departments"][0]
        assert support["last_error"] and "Error" in support["last_error"]
        assert support["last_fetch"] is not None
    finally:
        dovecot.start()
    w.deliver("support", mail(f"b@{w.domain}", w.addr("support"), "After", "two"))
    poller.retry_at = None  # skip the back-off wait in the test
    assert poller.run() == 1
    assert [t["subject"] for t in cli_json(w, "tickets")] == ["Before", "After"]


def test_smtp_outage_delays_but_never_loses(make_world, relay):
    w = make_world()
    w.deliver("support", mail(f"c@{w.domain}", w.addr("support"), "Hello", "x"))
    ImapPoller(w.app, w.config.department("support")).poll_once()
    relay.stop()
    try:
        report = w.app.outbox.deliver()
        assert report.down and report.sent == 0
        assert cli_json(w, "status")["outbox_depth"] == 3  # auto-response + 2 notifications
    finally:
        relay.start()
    report = w.app.outbox.deliver(retry_all=True)
    assert report.sent == 3
    assert len(w.wait_inbox("c", 1)) == 1
    assert cli_json(w, "status")["outbox_depth"] == 0


def test_uidvalidity_change_resyncs_without_reprocessing(make_world, dovecot):
    w = make_world()
    # The department reads its own folder, so the test can delete and recreate it.
    support = w.config.department("support")
    dept = support.model_copy(update={"imap": support.imap.model_copy(
        update={"folder": "Helpdesk"})})
    poller = ImapPoller(w.app, dept)
    user = w.addr("support")
    c = dovecot.client(user)
    c.create_folder("Helpdesk")
    msgs = [mail(f"u{i}@{w.domain}", user, f"UV {i}", "x") for i in range(3)]
    for m in msgs:
        c.append("Helpdesk", bytes(m))
    assert poller.poll_once() == 3
    old = c.folder_status("Helpdesk", ["UIDVALIDITY"])[b"UIDVALIDITY"]
    # Recreate it with the same mails and one new: a new UIDVALIDITY, as after a restore.
    c.delete_folder("Helpdesk")
    c.create_folder("Helpdesk")
    for m in [*msgs, mail(f"u9@{w.domain}", user, "UV new", "x")]:
        c.append("Helpdesk", bytes(m))
    assert c.folder_status("Helpdesk", ["UIDVALIDITY"])[b"UIDVALIDITY"] != old
    c.logout()
    assert poller.poll_once() == 4  # looked at again, recognised by Message-ID
    assert [t["subject"] for t in cli_json(w, "tickets")] == ["UV 0", "UV 1", "UV 2", "UV new"]
    w.poll()
    for i in (0, 1, 2, 9):
        assert len(w.inbox(f"u{i}")) == 1, "an auto-response went out twice"


def test_unusable_database_at_start_gives_one_clear_line(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(config_toml(
        secret=None, database={"url": "postgresql+psycopg://nobody@127.0.0.1:1/none"},
        departments=[department("support", "example.com")]))
    r = subprocess.run([sys.executable, "-m", "mailticket", "--config", str(cfg), "run"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "database" in r.stderr and "unusable" in r.stderr
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) <= 3


def test_sigterm_during_a_backlog_stops_within_seconds_and_loses_nothing(make_world, tmp_path,
                                                                         dovecot):
    w = make_world()
    raws = [bytes(mail(f"k{i % 7}@{w.domain}", w.addr("support"), f"Backlog {i}", "x"))
            for i in range(150)]
    dovecot.seed_inbox(w.addr("support"), raws)
    with open(tmp_path / "d.log", "wb") as log:
        proc = start_daemon(w, log)
        # SIGTERM while it works on the backlog: once it runs, before it is through.
        deadline = time.monotonic() + 60
        while b"mailticket running" not in (tmp_path / "d.log").read_bytes():
            assert time.monotonic() < deadline, "the daemon never started"
            time.sleep(0.05)
        took = stop_daemon(proc)
        assert took < 8, f"SIGTERM took {took:.1f} s"
        proc = start_daemon(w, log)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if len(cli_json(w, "tickets")) == 150 and \
                        cli_json(w, "status")["outbox_depth"] == 0:
                    break
                time.sleep(0.5)
        finally:
            stop_daemon(proc)
    tickets = cli_json(w, "tickets")
    assert sorted(int(t["subject"].split()[1]) for t in tickets) == list(range(150))


def test_locked_database_delays_mail_but_never_quarantines_it(make_world, tmp_path):
    import sqlite3

    w = make_world()
    text = w.config_path.read_text().replace("[database]\n", "[database]\nbusy_timeout = 0.5\n", 1)
    w.config_path.write_text(text)
    from mailticket.app import App
    from mailticket.config import load_config

    app = App(load_config(w.config_path))
    db_file = w.config.database.url.removeprefix("sqlite:///")
    poller = ImapPoller(app, app.config.department("support"))
    w.deliver("support", mail(f"lock@{w.domain}", w.addr("support"), "Locked", "x"))
    locker = sqlite3.connect(db_file, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")  # a backup or another program holds the database
    try:
        assert poller.run() == 0
        # The pipeline itself meets the lock too: the mail is not blamed for it.
        with pytest.raises(OperationalError):
            app.ingest(bytes(mail(f"lock@{w.domain}", w.addr("support"), "Direct", "y")),
                       department="support", source="test")
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert cli_json(w, "quarantine") == []
    assert cli_json(w, "tickets") == []
    poller.retry_at = None
    assert poller.run() == 1
    assert [t["subject"] for t in cli_json(w, "tickets")] == ["Locked"]
    app.close()


def test_dovecot_killed_in_the_middle_of_a_fetch(make_world, dovecot):
    import threading

    w = make_world()
    n = 1200  # six FETCH batches of 200: the kill lands while some are still to come
    dovecot.seed_inbox(w.addr("support"), [
        bytes(mail(f"f{i}@{w.domain}", w.addr("support"), f"Fetch {i}", "x" * 2000))
        for i in range(n)])
    poller = ImapPoller(w.app, w.config.department("support"))
    result: list[object] = []

    def poll() -> None:
        try:
            result.append(poller.poll_once())
        except Exception as e:  # the expected outcome: the server vanished
            result.append(e)

    t = threading.Thread(target=poll)
    t.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and _tickets(w) < 1:
        time.sleep(0.01)
    dovecot.kill()
    t.join(30)
    try:
        assert isinstance(result[0], Exception), "the poll should have lost its server"
        done = len(cli_json(w, "tickets"))
        assert 0 < done < n
    finally:
        dovecot.start()
    assert poller.poll_once() == n - done
    subjects = sorted(int(t["subject"].split()[1]) for t in cli_json(w, "tickets"))
    assert subjects == list(range(n))


def _tickets(w) -> int:
    from sqlalchemy import func, select

    from mailticket.store.models import Ticket

    with w.app.db.read() as s:
        return s.scalar(select(func.count()).select_from(Ticket)) or 0


def _thread_cpu_seconds(native_id: int) -> float:
    with open(f"/proc/self/task/{native_id}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.parametrize("how", ["killed", "stopped"])
def test_a_dropped_idle_connection_is_retried_not_spun_on(make_world, dovecot, how):
    """imapclient's idle_check hides an end of stream and returns at once, with nothing:
    the IDLE thread burned a core until the next renewal (minutes).  It must notice,
    back off and come back when the server does."""
    import threading

    from mailticket.ingest.idle import Idler

    w = make_world()
    woken = threading.Semaphore(0)
    stop = threading.Event()
    idler = Idler("support", w.config.department("support").imap, woken.release, stop)
    idler.start()
    try:
        assert woken.acquire(timeout=10), "IDLE never connected"
        time.sleep(0.3)  # listening now
        try:
            dovecot.kill() if how == "killed" else dovecot.stop()
            before = _thread_cpu_seconds(idler.native_id)
            time.sleep(2.0)
            spent = _thread_cpu_seconds(idler.native_id) - before
        finally:
            dovecot.start()
        assert spent < 0.2, f"the IDLE thread spun on a dead connection ({spent:.2f} s CPU)"
        assert woken.acquire(timeout=20), "IDLE did not come back with the server"
    finally:
        stop.set()
        idler.join(5)
