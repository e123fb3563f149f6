"""Several `mailticket run` processes on one PostgreSQL database, four department
mailboxes in a real Dovecot, a real SMTP relay: the daemons divide the mailboxes, hold
IDLE connections only for their own, take over a SIGKILLed one's mailboxes and mail,
and a SIGSTOPped one resumed after its lease passed sends and commits nothing twice.

Short liveness settings keep these fast: ``[daemons] heartbeat = 0.3``,
``dead_after = 1.5`` (a silent daemon is dead after 1.5 s instead of 10 s).
"""

from __future__ import annotations

import os
import re
import signal
import time
import uuid
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailticket import views
from mailticket.app import App
from mailticket.config import parse_config
from mailticket.store.models import Message, OutboxItem, Quarantine, Ticket
from tests.builders import PARIS_OFFICE, config_toml, department
from tests.conftest import World, cli_json, mail, start_daemon, stop_daemon
from tests.mailservers import Dovecot

pytestmark = pytest.mark.integration

DESKS = ["billing", "returns", "sales", "support"]
TAKEOVER_TARGET = 30.0  # seconds from SIGKILL to the last auto-response (issue 19)


@pytest.fixture
def desks(dovecot, relay, pg_url, tmp_path):
    """Four IMAP departments on one PostgreSQL database, as every daemon reads them."""
    domain = f"fo-{uuid.uuid4().hex[:6]}.example"

    def imap(local: str) -> dict[str, object]:
        # IDLE wakes the poll; the safety poll is slow so that a poll's own connection
        # seldom shows up among a daemon's IMAP connections.
        return {"host": "127.0.0.1", "port": dovecot.imap_port, "security": "none",
                "username": f"{local}@{domain}", "password": Dovecot.PASSWORD,
                "poll_interval": 5, "timeout": 10}

    text = config_toml(
        secret=f"test-secret-{domain}", instance="mailticket-test", database={"url": pg_url},
        outgoing={"transport": "smtp", "host": "127.0.0.1", "port": relay.port,
                  "security": "none", "username": "helpdesk", "password": "relay-pw",
                  "interval": 0.3, "lease": 120},
        calendar=PARIS_OFFICE, sla='response = "1 business day"',
        tables={"daemons": {"heartbeat": 0.3, "dead_after": 1.5},
                "ingest": {"parse_workers": 0}, "languages": {"supported": ["en"]}},
        departments=[department(d, domain, agents=["alice"], imap=imap(d)) for d in DESKS])
    path = tmp_path / "desks.toml"
    path.write_text(text)
    config = parse_config(text, str(path))
    app = App(config)
    app.ensure_schema()
    yield World(dovecot, relay, domain, path, config, app)
    app.close()


def _daemons(w: World) -> list[dict]:
    """What `status --json` lists as daemons (read in this process: polled often)."""
    with w.app.db.read() as s:
        data = views.status(s, w.config, w.app.clock.now())
    return [d for d in data["daemons"] if d["command"] == "run"]


def _divided(w: World, pids: set[int], timeout: float = 40.0) -> dict[int, list[str]]:
    """Wait until exactly these daemons run and hold every mailbox, evenly, and the
    division stayed the same for a second: pid -> its mailboxes."""
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        held = {d["pid"]: d["mailboxes"] for d in _daemons(w)}
        shares = sorted(len(m) for m in held.values())
        even = set(held) == pids and sorted(sum(held.values(), [])) == DESKS and \
            shares[-1] - shares[0] <= 1
        if even and held == last:
            if time.monotonic() - since >= 1.0:
                return held
        else:
            last, since = (held if even else None), time.monotonic()
        time.sleep(0.2)
    raise AssertionError(f"never divided evenly among {pids}: {last or held}")


def _imap_connections(pid: int, port: int) -> int:
    """Established TCP connections of process ``pid`` (not its children) to ``port``."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if remote_port == port and fields[3] == "01" and fields[9] in inodes:
                count += 1
    return count


def _idle_only_for_own(w: World, held: dict[int, list[str]], timeout: float = 15.0) -> None:
    """Each daemon's IMAP connections are its IDLE ones: one per mailbox it holds (a
    poll's connection comes and goes: wait for a moment without one)."""
    deadline = time.monotonic() + timeout
    while True:
        counts = {pid: _imap_connections(pid, w.dovecot.imap_port) for pid in held}
        if all(counts[pid] == len(boxes) for pid, boxes in held.items()):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"IMAP connections per daemon {counts}, mailboxes {held}")
        time.sleep(0.1)


def _answered(w: World, customers: list[str]) -> bool:
    return all(w.dovecot.messages(w.addr(c)) for c in customers)


def _write(w: World, desk: str, customer: str, subject: str) -> None:
    w.deliver(desk, mail(f"Cust <{customer}@{w.domain}>", w.addr(desk), subject,
                         "Please help."))


def _handed(w: World, since: int) -> Counter:
    """How many times the relay accepted each Message-ID since ``since``."""
    handed: Counter = Counter()
    for rec in w.relay.received[since:]:
        m = re.search(rb"^Message-ID: (<[^>]+>)", rec.raw, re.M | re.I)
        if m:
            handed[m.group(1).decode()] += 1
    return handed


def _each_once(w: World, subjects: list[str], customers: list[str]) -> None:
    """Every mail in exactly one ticket, nothing quarantined, every queued mail handed
    to SMTP, each customer one auto-response (one Message-ID)."""
    with w.app.db.read() as s:
        assert s.scalar(select(func.count()).select_from(Quarantine)) == 0
        assert sorted(s.scalars(select(Ticket.subject))) == sorted(subjects), \
            "a mail lost or in two tickets"
        assert s.scalar(select(func.count()).select_from(Message).where(
            Message.direction == "in")) == len(subjects)
        assert s.scalar(select(func.count()).select_from(OutboxItem).where(
            OutboxItem.sent_at.is_(None))) == 0
    for c in customers:
        ids = {m["Message-ID"] for m in w.inbox(c)}
        assert len(ids) == 1, f"{c}: {len(ids)} different auto-responses"


def _stop_all(procs) -> None:
    for p in procs:
        if p.poll() is None:
            os.kill(p.pid, signal.SIGCONT)
            stop_daemon(p)


def test_three_daemons_divide_four_mailboxes_and_take_over_a_killed_ones(desks, tmp_path):
    w = desks
    subjects, customers = [], []

    def write(desk: str, n: int, tag: str) -> list[str]:
        mine = []
        for i in range(n):
            c = f"{tag}-{desk}-{i}"
            _write(w, desk, c, f"{tag} {desk} {i}")
            subjects.append(f"{tag} {desk} {i}")
            mine.append(c)
        customers.extend(mine)
        return mine

    with ExitStack() as files:
        logs = [files.enter_context(open(tmp_path / f"d{i}.log", "wb")) for i in range(3)]
        procs = [start_daemon(w, log) for log in logs]
        _kill_and_take_over(w, procs, write)
    assert _daemons(w) == []
    _each_once(w, subjects, customers)


def _kill_and_take_over(w: World, procs, write) -> None:
    try:
        held = _divided(w, {p.pid for p in procs})
        assert sorted(len(m) for m in held.values()) == [1, 1, 2]
        listed = {d["pid"]: d["mailboxes"] for d in cli_json(w, "status")["daemons"]}
        assert listed == held, "status --json lists what each daemon holds"
        _idle_only_for_own(w, held)
        first = [c for d in DESKS for c in write(d, 2, "First")]
        deadline = time.monotonic() + 60
        while not _answered(w, first) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _answered(w, first), "the first mails were never answered"

        # The one holding two mailboxes dies while mail to them is being handled.
        [doomed] = [p for p in procs if len(held[p.pid]) == 2]
        lost = held[doomed.pid]
        during = [c for d in lost for c in write(d, 5, "During")]
        time.sleep(0.3)
        doomed.kill()
        doomed.wait()
        killed = time.monotonic()
        after = [c for d in DESKS for c in write(d, 2, "After")]
        theirs = during + [c for c in after if any(f"-{d}-" in c for d in lost)]
        while not _answered(w, during + after) and \
                time.monotonic() < killed + TAKEOVER_TARGET + 30:
            time.sleep(0.1)
        took = time.monotonic() - killed
        print(f"the killed daemon's mailboxes {lost}: last of {len(theirs)} mails answered "
              f"{took:.1f} s after SIGKILL")
        assert _answered(w, during + after) and took <= TAKEOVER_TARGET, took

        survivors = [p for p in procs if p is not doomed]
        again = _divided(w, {p.pid for p in survivors})
        assert sorted(len(m) for m in again.values()) == [2, 2]
        assert set(lost) <= set(sum(again.values(), []))
        _idle_only_for_own(w, again)
    finally:
        _stop_all(procs)


def _half_sent_claim(w: World, holder: int) -> bool:
    """Whether ``holder`` holds claimed outbox mail it has not sent while some of the
    mail has been sent: a sender in the middle of its work."""
    with w.app.db.read() as s:
        claimed = s.scalar(select(func.count()).select_from(OutboxItem).where(
            OutboxItem.claimed_by == holder, OutboxItem.sent_at.is_(None))) or 0
        sent = s.scalar(select(func.count()).select_from(OutboxItem).where(
            OutboxItem.sent_at.is_not(None))) or 0
    return claimed > 1 and sent > 0


BACKLOG = 40  # per mailbox


def test_a_paused_daemon_resumed_after_its_lease_passed_does_nothing_twice(desks, tmp_path):
    """Daemon A, alone, works through a backlog in four mailboxes; it is SIGSTOPped in the
    middle of sending a claimed batch (and most likely of storing a fetched one).  B
    starts, takes A's mailboxes and claimed mail once A's heartbeat is 1.5 s old, and
    does the work.  A is resumed: its batch is fenced off, its claimed mail is not sent
    again (the SMTP transaction the pause cut in two may be), the two share the
    mailboxes, and every mail has one ticket and one auto-response."""
    w = desks
    subjects = [f"Pause {d} {i}" for d in DESKS for i in range(BACKLOG)]
    customers = [f"p-{d}-{i}" for d in DESKS for i in range(BACKLOG)]
    for d in DESKS:
        w.dovecot.seed_inbox(w.addr(d), [bytes(mail(
            f"Cust <p-{d}-{i}@{w.domain}>", w.addr(d), f"Pause {d} {i}", "Please help."))
            for i in range(BACKLOG)])
    seen_before = len(w.relay.received)
    with open(tmp_path / "a.log", "wb") as log_a, open(tmp_path / "b.log", "wb") as log_b:
        _pause_and_resume(w, log_a, log_b, len(subjects))
    text_a = (tmp_path / "a.log").read_text()
    print("A after its resume:", [ln for ln in text_a.splitlines()
                                  if "taken over" in ln or "no longer held" in ln
                                  or "taken for dead" in ln])
    _each_once(w, subjects, customers)
    copies = sum(n - 1 for n in _handed(w, seen_before).values())
    assert copies <= 1, f"{copies} mails handed to SMTP twice"
    # A learnt it had been fenced, in one of the ways the pause allows: its outbox found
    # its claims gone; its next heartbeat found it taken for dead; PostgreSQL ended the
    # transaction it was frozen in (idle_in_transaction_session_timeout); and in every
    # case its mailboxes were gone to B.  Nothing it did then went out twice (above).
    fenced = ("taken over by another sender meanwhile; not sent here",
              "was taken for dead", "server closed the connection unexpectedly",
              "idle-in-transaction timeout")
    assert any(sign in text_a for sign in fenced), text_a[-2000:]
    assert "let go (now another daemon's or free)" in text_a, text_a[-2000:]


def _pause_and_resume(w: World, log_a, log_b, mails: int) -> None:
    a = start_daemon(w, log_a)
    procs = [a]
    try:
        [me] = [d["id"] for d in _wait_listed(w, a.pid)]
        deadline = time.monotonic() + 60
        while True:
            assert time.monotonic() < deadline, "A never held a half-sent batch"
            if _half_sent_claim(w, me):
                os.kill(a.pid, signal.SIGSTOP)
                if _half_sent_claim(w, me):  # still: it cannot finish while stopped
                    break
                os.kill(a.pid, signal.SIGCONT)
            time.sleep(0.01)
        stopped = time.monotonic()
        b = start_daemon(w, log_b)
        procs.append(b)
        # B takes A's claimed mail over once A's heartbeat is old: wait until it has.
        deadline = time.monotonic() + 60
        while _claimed_by(w, me) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _claimed_by(w, me), "B never took A's claimed mail over"
        time.sleep(max(0.0, stopped + 3.0 - time.monotonic()))  # twice dead_after
        os.kill(a.pid, signal.SIGCONT)
        _divided(w, {a.pid, b.pid}, timeout=60)
        deadline = time.monotonic() + 90
        while not _done(w, mails) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        _stop_all(procs)


def _wait_listed(w: World, pid: int, timeout: float = 30.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [d for d in _daemons(w) if d["pid"] == pid]
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"daemon {pid} never registered")


def _claimed_by(w: World, holder: int) -> int:
    with w.app.db.read() as s:
        return s.scalar(select(func.count()).select_from(OutboxItem).where(
            OutboxItem.claimed_by == holder, OutboxItem.sent_at.is_(None))) or 0


def _done(w: World, mails: int) -> bool:
    with w.app.db.read() as s:
        stored = s.scalar(select(func.count()).select_from(Ticket))
        waiting = s.scalar(select(func.count()).select_from(OutboxItem).where(
            OutboxItem.sent_at.is_(None), OutboxItem.failed_at.is_(None)))
    return stored == mails and waiting == 0


def test_two_daemons_on_one_sqlite_file_share_its_mailboxes(make_world, tmp_path):
    """SQLite (one host): a second daemon is not refused; the two hold one mailbox each
    and each mail is answered once."""
    w = make_world(extra="[daemons]\nheartbeat = 0.3\ndead_after = 1.5\n")
    with open(tmp_path / "a.log", "wb") as log_a, open(tmp_path / "b.log", "wb") as log_b:
        procs = [start_daemon(w, log_a), start_daemon(w, log_b)]
        try:
            deadline = time.monotonic() + 40
            while time.monotonic() < deadline:
                held = sorted(d["mailboxes"] for d in _daemons(w))
                if held == [["sales"], ["support"]]:
                    break
                time.sleep(0.2)
            assert held == [["sales"], ["support"]], held
            for desk in ("sales", "support"):
                _write(w, desk, f"q-{desk}", f"Shared {desk}")
            deadline = time.monotonic() + 40
            while not _answered(w, ["q-sales", "q-support"]) and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            _stop_all(procs)
    _each_once(w, ["Shared sales", "Shared support"], ["q-sales", "q-support"])
