"""SIGKILL at random instants while the daemon fetches, stores and sends: nothing lost,
nothing twice (a resent mail keeps its Message-ID: the at-least-once contract)."""

from __future__ import annotations

import random
import re
import time
from collections import defaultdict
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from mailticket.store.models import Message, OutboxItem, Ticket
from tests.conftest import cli_json, mail, start_daemon, stop_daemon

pytestmark = pytest.mark.integration

MAILS = 240
KILLS = 10


def test_sigkill_at_random_instants_loses_and_duplicates_nothing(make_world, dovecot, relay,
                                                                tmp_path):
    w = make_world()
    raws = [bytes(mail(f"Cust {i} <c{i}@{w.domain}>", w.addr("support"), f"Crash {i}",
                       f"Mail number {i}.")) for i in range(MAILS)]
    half = MAILS // 2
    dovecot.seed_inbox(w.addr("support"), raws[:half])
    rng = random.Random(20261123)
    seen_before = len(relay.received)
    progress: list[tuple[int, int]] = []
    with open(tmp_path / "daemon.log", "wb") as log:
        for k in range(KILLS):
            before = _counts(w)
            proc = start_daemon(w, log)
            # At a random instant of its work (fetching, storing or sending), however long
            # a loaded machine takes to start it: once it has committed something.
            deadline = time.monotonic() + 20
            while _counts(w) == before and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 0.4))
            proc.kill()
            proc.wait()
            progress.append(_counts(w))
            if k == KILLS // 2:  # more mail lands while the daemon is down
                dovecot.seed_inbox(w.addr("support"), raws[half:])
        proc = start_daemon(w, log)
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                # Tickets first: their mail is queued in their own commit, so an empty
                # outbox seen after all tickets exist means all of it was sent.
                if len(cli_json(w, "tickets")) == MAILS and \
                        cli_json(w, "status")["outbox_depth"] == 0:
                    break
                time.sleep(0.5)
        finally:
            stop_daemon(proc)

    with w.app.db.transaction() as s:
        subjects = sorted(s.scalars(select(Ticket.subject)))
        assert subjects == sorted(f"Crash {i}" for i in range(MAILS)), "lost or doubled"
        incoming = s.scalar(select(func.count()).select_from(Message).where(
            Message.direction == "in", Message.ticket_id.is_not(None)))
        assert incoming == MAILS, "each mail in exactly one ticket"
        outbox = {r.message_id: r for r in s.scalars(select(OutboxItem))}
        assert all(r.sent_at is not None for r in outbox.values())

    # Every outbox mail reached the SMTP server; copies carry the same Message-ID.
    handed = defaultdict(int)
    for rec in relay.received[seen_before:]:
        m = re.search(rb"^Message-ID: (<[^>]+>)", rec.raw, re.M | re.I)
        if m:
            handed[m.group(1).decode()] += 1
    missing = set(outbox) - set(handed)
    assert not missing, f"{len(missing)} outbox mails never reached SMTP"
    resent = sum(n - 1 for mid, n in handed.items() if mid in outbox)
    print(f"{len(outbox)} mails queued, {resent} re-sent after a kill (same Message-ID); "
          f"(tickets, mails sent) after each kill: {progress}")
    # The kills must have hit the daemon at work, not only before or after it.
    assert len({p for p in progress if 0 < p[0] < MAILS}) >= 3, progress

    # Each customer: exactly one auto-response (one distinct Message-ID).
    for i in range(MAILS):
        ids = {m["Message-ID"] for m in w.inbox(f"c{i}")}
        assert len(ids) == 1, f"c{i} got {len(ids)} different auto-responses"


def _counts(w) -> tuple[int, int]:
    with w.app.db.transaction() as s:
        return (s.scalar(select(func.count()).select_from(Ticket)) or 0,
                s.scalar(select(func.count()).select_from(OutboxItem).where(
                    OutboxItem.sent_at.is_not(None))) or 0)


BACKLOG = 120
RESTART_TARGET = 30.0  # seconds from the last restart to the last auto-response


def test_a_restarted_daemon_sends_a_killed_ones_claimed_batch_at_once(make_world, dovecot,
                                                                      relay, tmp_path):
    """With the default 120 s lease, SIGKILLs during a backlog (one of them while a batch
    is claimed and half sent): after the restart every auto-response is accepted by the
    SMTP server within RESTART_TARGET, none lost, none doubled."""
    w = make_world()
    w.reconfigure("lease = 2\n", "lease = 120\n")
    raws = [bytes(mail(f"Cust {i} <k{i}@{w.domain}>", w.addr("support"), f"Kill {i}",
                       f"Mail number {i}.")) for i in range(BACKLOG)]
    half = BACKLOG // 2
    dovecot.seed_inbox(w.addr("support"), raws[:half])
    rng = random.Random(20261202)
    with open(tmp_path / "daemon.log", "wb") as log:
        for k in range(4):
            proc = start_daemon(w, log)
            if k == 1:
                _wait_for_a_claimed_batch(w)
            else:
                time.sleep(rng.uniform(0.6, 1.6))
            proc.kill()
            proc.wait()
            if k == 0:  # more mail lands while the daemon is down
                dovecot.seed_inbox(w.addr("support"), raws[half:])
        restarted = time.monotonic()
        proc = start_daemon(w, log)
        try:
            took = None
            while time.monotonic() < restarted + RESTART_TARGET + 20:
                if _done(w):
                    took = time.monotonic() - restarted
                    break
                time.sleep(0.1)
        finally:
            stop_daemon(proc)
    print(f"last auto-response {took} s after the restart; (tickets, sent) {_counts(w)}")
    assert took is not None and took <= RESTART_TARGET, \
        f"the restarted daemon waited out a dead claim: {_counts(w)} after {took} s"
    with w.app.db.read() as s:
        subjects = sorted(s.scalars(select(Ticket.subject)))
    assert subjects == sorted(f"Kill {i}" for i in range(BACKLOG)), "lost or doubled"
    for i in range(BACKLOG):
        ids = {m["Message-ID"] for m in w.inbox(f"k{i}")}
        assert len(ids) == 1, f"k{i} got {len(ids)} different auto-responses"


def _done(w) -> bool:
    """Every mail in a ticket and every queued mail accepted by the SMTP server."""
    with w.app.db.read() as s:
        waiting = s.scalar(select(func.count()).select_from(OutboxItem).where(
            OutboxItem.sent_at.is_(None), OutboxItem.failed_at.is_(None)))
    return waiting == 0 and _counts(w)[0] == BACKLOG


def _wait_for_a_claimed_batch(w, timeout: float = 30.0) -> None:
    """Until the daemon holds a batch it has started, not finished, sending."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = w.app.clock.now()
        with w.app.db.read() as s:
            claimed = s.scalar(select(func.count()).select_from(OutboxItem).where(
                OutboxItem.sent_at.is_(None),
                OutboxItem.next_attempt_at > now + timedelta(seconds=30))) or 0
            sent = s.scalar(select(func.count()).select_from(OutboxItem).where(
                OutboxItem.sent_at.is_not(None))) or 0
        if claimed and sent:
            return
        time.sleep(0.02)
    raise AssertionError("the daemon never held a half-sent batch")
