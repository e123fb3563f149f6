"""A backlog is parsed in a worker process while the daemon stores it: the same tickets
and languages as parsing in-process, and no worker outlives a daemon killed outright."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from mailticket.ingest.imap import ImapPoller
from mailticket.store.models import Ticket
from tests.conftest import mail, start_daemon
from tests.test_language import MAILS

pytestmark = pytest.mark.integration


def backlog(w, n: int) -> list[bytes]:
    texts = [(lang, text) for lang, ts in MAILS.items() for text in ts[:3]]
    return [bytes(mail(f"Cust {i} <p{i}@{w.domain}>", w.addr("support"), f"Backlog {i}",
                       texts[i % len(texts)][1])) for i in range(n)]


def tickets(w) -> list[tuple[str, str | None]]:
    with w.app.db.read() as s:
        return sorted((t.subject, t.language) for t in s.execute(
            select(Ticket.subject, Ticket.language)))


def test_workers_give_the_same_tickets_and_languages(make_world, dovecot):
    texts = [lang for lang, ts in MAILS.items() for _ in ts[:3]]
    results = []
    for workers in (1, 0):
        w = make_world(extra=f"[ingest]\nparse_workers = {workers}")
        dovecot.seed_inbox(w.addr("support"), backlog(w, 120))
        ImapPoller(w.app, w.config.department("support")).poll_once()
        assert len(w.app.parser.pids()) == workers
        got = tickets(w)
        assert got == sorted((f"Backlog {i}", texts[i % len(texts)]) for i in range(120))
        results.append(got)
    assert results[0] == results[1]


def test_mail_that_came_after_the_workers_connection_is_not_skipped(make_world, dovecot):
    """A worker keeps its IMAP session between polls; a server tells a session of new
    mail only when asked (NOOP), and fetching a UID it was not told of gives nothing.
    Taken for expunged, such a mail would be skipped for ever."""
    w = make_world(extra="[ingest]\nparse_workers = 1")
    poller = ImapPoller(w.app, w.config.department("support"))
    raws = backlog(w, 3)
    for i, raw in enumerate(raws):
        dovecot.seed_inbox(w.addr("support"), [raw])
        assert poller.poll_once() == 1
        assert len(tickets(w)) == i + 1
    assert len(w.app.parser.pids()) == 1


def descendants(pid: int) -> list[str]:
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True,
                              text=True).stdout.split()
    return [*children, *(d for c in children for d in descendants(int(c)))]


def test_no_worker_outlives_a_killed_daemon(make_world, dovecot, tmp_path):
    w = make_world(extra="[ingest]\nparse_workers = 1")
    dovecot.seed_inbox(w.addr("support"), backlog(w, 600))
    with open(tmp_path / "daemon.log", "wb") as log:
        proc = start_daemon(w, log)
        try:
            deadline = time.monotonic() + 30
            workers: list[str] = []
            while time.monotonic() < deadline and not workers:
                time.sleep(0.2)
                workers = descendants(proc.pid)
            assert workers, "the backlog was not given to a parse worker"
            # One process, carrying the parser only, not a second daemon (the configuration's
            # validators): multiprocessing's workers re-imported the daemon's main module and
            # came with a fork server and a resource tracker, 140 MB in all.
            assert len(workers) == 1
            maps = ""
            while time.monotonic() < deadline and "lingua" not in maps:  # the worker is up
                maps = Path(f"/proc/{workers[0]}/maps").read_text()
                time.sleep(0.05)
            assert "lingua" in maps and "pydantic_core" not in maps
        finally:  # killed outright, SIGKILL: the worker cannot be told
            proc.kill()
            proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(map(alive, workers)):
        time.sleep(0.2)
    assert not any(map(alive, workers)), "parse workers outlived the daemon"


def alive(pid: str) -> bool:
    """Running: an exited orphan stays a zombie where nobody reaps it (a container)."""
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


def test_a_backlog_is_ingested_when_the_worker_died_or_cannot_start(make_world, dovecot,
                                                                    monkeypatch, caplog):
    """A worker killed while idle (the OOM killer), then one that fails as it starts: each
    backlog is still stored, parsed in the daemon's own process."""
    w = make_world(extra="[ingest]\nparse_workers = 1")
    poller = ImapPoller(w.app, w.config.department("support"))
    deadline = time.monotonic() + 30
    while not w.app.parser.ready() and time.monotonic() < deadline:
        time.sleep(0.1)
    [worker] = w.app.parser.pids()
    os.kill(worker, 9)
    time.sleep(0.5)
    dovecot.seed_inbox(w.addr("support"), backlog(w, 120))
    assert poller.poll_once() == 120
    assert len(tickets(w)) == 120
    assert "parse worker failed" in caplog.text
    # A worker that cannot even start, once the back-off is over.
    monkeypatch.setattr(w.app.parser, "_retry_at", 0.0)
    # A language the detector does not know: the worker's initialiser raises.
    monkeypatch.setattr(w.app.parser, "languages",
                        w.app.parser.languages.model_copy(update={"supported": ["zz", "en"]}))
    more = backlog(w, 240)[120:]
    dovecot.seed_inbox(w.addr("support"), more)
    assert poller.poll_once() == 120
    assert len(tickets(w)) == 240


def test_a_worker_that_cannot_fetch_leaves_the_fetching_to_the_daemon(make_world, dovecot,
                                                                      monkeypatch, caplog):
    """The worker logs in on its own; if the server refuses it, the daemon fetches those
    mails itself and the worker stays."""
    w = make_world(extra="[ingest]\nparse_workers = 1")
    poller = ImapPoller(w.app, w.config.department("support"))
    fetch = w.app.parser.fetch
    monkeypatch.setattr(w.app.parser, "fetch", lambda login, *args: fetch(
        {**login, "password": "not the password"}, *args))
    dovecot.seed_inbox(w.addr("support"), backlog(w, 120))
    assert poller.poll_once() == 120
    assert len(tickets(w)) == 120
    assert "could not fetch" in caplog.text
    assert len(w.app.parser.pids()) == 1


def test_a_worker_up_after_the_poll_began_takes_the_rest_of_the_backlog(make_world, dovecot,
                                                                         monkeypatch):
    """On a loaded machine a worker may need longer to start than the poll waits for it:
    the first batches are parsed in the daemon, the rest of the backlog by the worker as
    soon as it is up (not the whole backlog in the daemon, as when a poll decided once)."""
    import mailticket.ingest.imap as imap

    monkeypatch.setattr(imap, "WORKER_START_WAIT", 0.0)  # the worker is never up in time
    w = make_world(extra="[ingest]\nparse_workers = 1")
    dovecot.seed_inbox(w.addr("support"), backlog(w, 640))
    preparer = w.app.pipeline.preparer
    real, in_daemon = preparer.prepare, []

    def prepare(raw: bytes):  # counts the mails parsed here; the worker comes up meanwhile
        deadline = time.monotonic() + 60
        while not in_daemon and not w.app.parser.ready() and time.monotonic() < deadline:
            time.sleep(0.05)
        in_daemon.append(raw)
        return real(raw)

    monkeypatch.setattr(preparer, "prepare", prepare)
    assert ImapPoller(w.app, w.config.department("support")).poll_once() == 640
    assert len(tickets(w)) == 640
    # The batch in hand and the one fetched meanwhile; the other two by the worker.
    assert 0 < len(in_daemon) <= 2 * imap.FETCH_BATCH
