"""The transactional outbox: nothing is sent except through this table.

``enqueue`` runs inside the caller's transaction, so a ticket change and the mail
it causes commit together or not at all.  ``Outbox.deliver`` hands queued mail to
the transport and marks it sent in a transaction of its own.

Contract: at-least-once.  If the process dies after the SMTP server accepted a
mail and before the "sent" mark commits, the mail goes out again with the same
Message-ID, which receiving systems and mail clients use to drop the copy.

What a session sent is recorded on a thread of its own while it sends on
(``record.Recorder``): at most SEND_AHEAD mails unrecorded on SQLite, one on
PostgreSQL.  A claimed mail is checked again before it is sent (on PostgreSQL), and
after any pause long enough for another daemon to have taken the claim over (half
of DEAD_AFTER): a sender that was frozen (SIGSTOP, a stalled VM) sends none of what
it lost.  Only the one SMTP transaction a freeze cuts in two can still reach the
server twice.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from mailticket.clock import Clock
from mailticket.daemons import DEAD_AFTER, live
from mailticket.outgoing.compose import Outgoing
from mailticket.outgoing.record import Mark, Recorder
from mailticket.outgoing.transport import PermanentError, Transport, TransportDown
from mailticket.store.db import Database
from mailticket.store.models import Message, OutboxItem
from mailticket.store.records import AnyTicket
from mailticket.store.writes import Writes, writing

log = logging.getLogger("mailticket.outbox")

SEND_AHEAD = 20  # sent mails a session may have unrecorded, on SQLite (record.py)
MARK_EVERY = 10  # sent mails recorded together at least, on SQLite (record.py)
PER_CONNECTION = 100  # mails claimed per run for each SMTP connection (PostgreSQL)
# On SQLite a claim, and the last record of what it sent, each wait for the poller's
# batch to commit: four times as many a claim make those waits a quarter as many.
PER_CONNECTION_SQLITE = 4 * PER_CONNECTION
CLAIM_BYTES = 64 * 1024 * 1024  # raw mail a claim loads at most (one mail at least)


def enqueue(writes: Writes, out: Outgoing, *, ticket: AnyTicket | None, now: datetime
            ) -> None:
    """Queue one mail and record it on its ticket, in the caller's transaction."""
    message = dict(
        direction="out", kind=out.kind,
        message_id=out.message_id, fingerprint=None, in_reply_to=out.in_reply_to,
        references=out.references, from_addr=out.mail_from, from_name="", to=out.to,
        cc=out.cc, subject=out.subject, date=now, text=out.text, attachments=[],
        language=None, verdict="", source="outbox", raw=out.raw)
    # A relayed answer joins the ticket's thread at once: a notification later in the
    # same transaction shows it in its history.  The rest is only written.
    if out.kind == "agent":
        writes.add_message(ticket, message)
    else:
        writes.write_message({**message, "ticket_id": ticket.id if ticket else None})
    writes.queue(dict(
        ticket_id=ticket.id if ticket else None, kind=out.kind, message_id=out.message_id,
        mail_from=out.mail_from, rcpt_to=out.recipients, created_at=now, attempts=0,
        next_attempt_at=now, sent_at=None, failed_at=None, last_error=None))
    # The outbox row is the record that it was queued; "mail_sent" events follow.


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min … capped at one hour, with ±20 % jitter against thundering herds."""
    base = min(3600.0, 30.0 * 2 ** max(0, attempts - 1))
    return timedelta(seconds=base * random.uniform(0.8, 1.2))


def pending_count(session: Session) -> int:
    q = select(func.count()).select_from(OutboxItem).where(
        OutboxItem.sent_at.is_(None), OutboxItem.failed_at.is_(None)
    )
    return int(session.scalar(q) or 0)


_OUTBOX: Table = OutboxItem.__table__  # type: ignore[assignment]
# What ``_finish`` records, as one Core statement: the ORM's bulk UPDATE by primary key
# was a quarter of the sender's CPU (docs/benchmarks.md).
_MARK = update(_OUTBOX).where(_OUTBOX.c.id == bindparam("b_id")).values(
    attempts=bindparam("b_attempts"),
    sent_at=bindparam("b_sent_at", type_=_OUTBOX.c.sent_at.type),
    failed_at=bindparam("b_failed_at", type_=_OUTBOX.c.failed_at.type),
    last_error=bindparam("b_last_error"), claimed_by=None)


def _renewal(mine: ColumnElement[bool]) -> Any:
    c = _OUTBOX.c
    return (update(_OUTBOX)
            .where(c.id.in_(bindparam("b_ids", expanding=True)), mine, c.sent_at.is_(None),
                   c.failed_at.is_(None))
            .values(next_attempt_at=bindparam("b_until", type_=c.next_attempt_at.type))
            .returning(c.id))


# What ``Outbox._renew`` runs: for a registered sender (its daemons row), and for an
# unregistered caller, whose claims hold no holder.
_RENEW = _renewal(_OUTBOX.c.claimed_by == bindparam("b_holder"))
_RENEW_UNREGISTERED = _renewal(_OUTBOX.c.claimed_by.is_(None))


@dataclass
class DeliveryReport:
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    down: str | None = None


class Outbox:
    def __init__(self, db: Database, transport: Transport, clock: Clock,
                 max_attempts: int = 50, lease: float = 120.0, connections: int = 1) -> None:
        self.lease = lease
        # SMTP sessions a run sends over at once: each round trip waits for the server
        # (and, in the daemon, for the GIL the writer holds), so one session sends a
        # few hundred mails a second at most (docs/benchmarks.md).
        self.connections = connections
        # The daemons row this process claims in (mailticket.daemons); None: an
        # unregistered caller, whose claims only the lease ends.
        self.holder: int | None = None
        self.dead_after = DEAD_AFTER
        self.db = db
        self.transport = transport
        self.clock = clock
        self.max_attempts = max_attempts
        self._down_since: datetime | None = None
        # Sent mails a session may have unrecorded (record.Recorder).  On PostgreSQL,
        # where several daemons share the outbox and take over each other's claims,
        # each mail is recorded before the next is sent: a daemon frozen between
        # sending and recording can then have only the mail in flight sent again by
        # the one that takes over (tests/test_failover.py); ten let it be ten.
        postgresql = db.engine.dialect.name == "postgresql"
        self.ahead = 1 if postgresql else SEND_AHEAD
        self.every = 1 if postgresql else MARK_EVERY
        self.check = 1 if postgresql else 0  # claims renewed each round: the next mail's
        self.per_connection = PER_CONNECTION if postgresql else PER_CONNECTION_SQLITE

    def _due(self, now: datetime, retry_all: bool) -> list[Any]:
        """What may be claimed: unsent mail that nobody alive holds.  A claim held by a
        live sender ends with its lease (a stuck sender); one whose holder stopped or
        went silent ends at once."""
        orphaned = OutboxItem.claimed_by.not_in(live(Clock().now(), self.dead_after))
        due: list[ColumnElement[bool]] = [OutboxItem.sent_at.is_(None),
                                          OutboxItem.failed_at.is_(None)]
        if retry_all:  # back-off ignored, live senders' batches not
            due.append(or_(OutboxItem.claimed_by.is_(None), orphaned))
        else:
            due.append(or_(OutboxItem.next_attempt_at <= now,
                           and_(OutboxItem.claimed_by.is_not(None), orphaned)))
        return due

    def _claim(self, batch: int, retry_all: bool) -> Sequence[Any]:
        """Take a batch in this process's name: its retry time moves past the lease, so
        another daemon sharing the database skips it while we live, and takes it over
        within seconds if we die."""
        now = self.clock.now()
        due = self._due(now, retry_all)
        with self.db.read() as s:  # the common case, nothing due, takes no write lock
            if s.scalar(select(OutboxItem.id).where(*due).limit(1)) is None:
                return []
        with self.db.transaction() as s:
            # The batch's ids first, from the pending index alone, then their rows and
            # raw mails: one query joining every pending row to its message and sorting
            # them with their bytes cost 20 ms a claim with 26,000 mails queued (each
            # claim reads all that is pending), this 9 ms (docs/decisions.md).
            ids = list(s.scalars(select(OutboxItem.id).where(*due).order_by(OutboxItem.id)
                                 .limit(batch).with_for_update(skip_locked=True)))
            ids = self._within_bytes(s, ids)
            items = s.execute(self._claimed(ids)).all() if ids else []
            if len(items) < len(ids) == batch:
                # A queued row without its message (never written so, but then): such
                # rows must not fill every batch; the one query skips them.
                items = s.execute(self._claimed(None).where(*due).limit(batch)
                                  .with_for_update(skip_locked=True, of=OutboxItem)).all()
            if items:
                s.execute(update(_OUTBOX).where(_OUTBOX.c.id.in_([i[0] for i in items]))
                          .values(next_attempt_at=now + timedelta(seconds=self.lease),
                                  claimed_by=self.holder))
        return items

    @staticmethod
    def _within_bytes(s: Session, ids: list[int]) -> list[int]:
        """The first of these ids whose raw mails come to CLAIM_BYTES at most (the first
        always): agents' notifications carry attachments, up to 10 MB each."""
        total, kept = 0, list[int]()
        for id_, size in s.execute(
                select(OutboxItem.id, func.length(Message.raw))
                .join(Message, Message.message_id == OutboxItem.message_id)
                .where(OutboxItem.id.in_(ids)).order_by(OutboxItem.id)) if ids else ():
            total += size or 0
            if kept and total > CLAIM_BYTES:
                return kept
            kept.append(id_)
        return ids

    @staticmethod
    def _claimed(ids: list[int] | None) -> Any:
        """The rows a sender needs of queued mail (of these ids), in their order."""
        q = (select(OutboxItem.id, OutboxItem.mail_from, OutboxItem.rcpt_to, Message.raw,
                    OutboxItem.message_id, OutboxItem.attempts, OutboxItem.ticket_id,
                    OutboxItem.kind)
             .join(Message, Message.message_id == OutboxItem.message_id)
             .order_by(OutboxItem.id))
        return q if ids is None else q.where(OutboxItem.id.in_(ids))

    def deliver(self, batch: int | None = None, retry_all: bool = False) -> DeliveryReport:
        """Send what is due over up to ``connections`` SMTP sessions at once; stop early
        when the server is unreachable.  ``batch``: mails claimed (default
        ``per_connection`` for each connection)."""
        report = DeliveryReport()
        claimed = time.monotonic()  # before the claim: a pause after it counts too
        items = self._claim(batch or self.per_connection * self.connections, retry_all)
        if not items:
            return report
        shares = [items[i::self.connections] for i in range(self.connections)]
        shares = [share for share in shares if share]
        if len(shares) == 1:
            reports = [self._send_share(shares[0], threading.Event(), claimed)]
        else:
            down = threading.Event()  # one session finding the server gone stops the rest
            with ThreadPoolExecutor(len(shares), thread_name_prefix="outbox") as pool:
                reports = list(pool.map(
                    lambda share: self._send_share(share, down, claimed), shares))
        for r in reports:
            report.sent += r.sent
            report.deferred += r.deferred
            report.failed += r.failed
            report.down = report.down or r.down
        if report.down:
            self._mark_down(report.down, list(items))
            return report
        if self._down_since is not None:
            log.warning("outbox: mail server reachable again after %s",
                        self.clock.now() - self._down_since)
            self._down_since = None
        return report

    def _send_share(self, items: Sequence[Any], down: threading.Event,
                    claimed: float) -> DeliveryReport:
        """One SMTP session's part of a claimed batch (claimed at ``claimed``, monotonic);
        what it sent is recorded before it returns, whatever happens."""
        report = DeliveryReport()
        recorder = Recorder(self._finish, items, ahead=self.ahead, every=self.every,
                            check=self.check,
                            fresh_for=self.dead_after / 2, confirmed=claimed)
        try:
            with self.transport.session() as conn:
                for item in recorder.items():
                    if down.is_set():
                        break
                    self._send_one(conn, item, report, recorder.sent)
        except TransportDown as e:
            down.set()
            report.down = str(e)
        finally:
            recorder.close()
            if recorder.lost:
                log.warning("outbox: %d claimed mail(s) taken over by another sender "
                            "meanwhile; not sent here", recorder.lost)
        return report

    def _send_one(self, conn: object, item: Any, report: DeliveryReport,
                  sent: Callable[[Mark], None]) -> None:
        try:
            refused = conn.send(  # type: ignore[attr-defined]
                item.mail_from, list(item.rcpt_to), item.raw)
        except PermanentError as e:
            sent((item, str(e), None))
            report.failed += 1
            log.error("%s outbox: permanently refused: %s", item.message_id, e)
            return
        except TransportDown:
            raise
        except Exception as e:  # a temporary refusal of this one mail
            self._defer(item.id, item.message_id, item.attempts, str(e))
            report.deferred += 1
            return
        sent((item, None, refused))
        report.sent += 1

    def _finish(self, marks: list[Mark], keep: Sequence[Any] = ()) -> set[int]:
        """Record what the server took (record.Recorder: what one transaction finds
        waiting), two statements in all.  ``keep``: claimed items still to be sent,
        whose claim is renewed in the same transaction; returns the ids of those still
        ours."""
        if not marks and not keep:
            return set()
        now = self.clock.now()
        updates = []
        with self.db.transaction() as s, writing(s) as w:
            ours = self._renew(s, [item.id for item in keep], now)
            for item, failed, refused in marks:
                updates.append({
                    "b_id": item.id, "b_attempts": item.attempts + 1,
                    "b_sent_at": None if failed else now,
                    "b_failed_at": now if failed else None,
                    "b_last_error": failed or (f"refused: {refused}" if refused else None)})
                detail: dict[str, Any] = {"kind": item.kind, "message_id": item.message_id,
                                          "to": item.rcpt_to}
                detail.update({"error": failed} if failed else {})
                detail.update({"refused": refused} if refused else {})
                w.event(item.ticket_id, "mail_failed" if failed else "mail_sent", now,
                        **detail)
            if updates:
                s.execute(_MARK, updates)  # by primary key, one executemany
        return ours

    def _renew(self, s: Session, ids: list[int], now: datetime) -> set[int]:
        """Of these claimed rows, those still claimed by this sender, their lease
        renewed (a sender taken for dead had its claims freed or taken)."""
        if not ids:
            return set()
        # On the table, not the entity, built once: the ORM's bulk UPDATE (it
        # synchronizes the session) was a quarter of the sender's CPU, building the
        # statement for each few mails another tenth; the statement is the same.
        params: dict[str, Any] = {"b_ids": ids,
                                  "b_until": now + timedelta(seconds=self.lease)}
        if self.holder is None:
            return set(s.scalars(_RENEW_UNREGISTERED, params))
        return set(s.scalars(_RENEW, {**params, "b_holder": self.holder}))

    def _defer(self, id_: int, message_id: str, attempts: int, error: str) -> None:
        now = self.clock.now()
        with self.db.transaction() as s, writing(s) as w:
            item = s.get(OutboxItem, id_)
            assert item is not None
            if item.claimed_by != self.holder:
                return  # taken over while we tried: the new holder's to retry
            item.attempts = attempts + 1
            item.last_error = error
            item.claimed_by = None
            if item.attempts >= self.max_attempts:
                item.failed_at = now
                w.event(item.ticket_id, "mail_failed", now, message_id=message_id,
                        error=error)
                log.error("%s outbox: giving up after %d attempts: %s",
                          message_id, item.attempts, error)
            else:
                item.next_attempt_at = now + backoff(item.attempts)
                log.warning("%s outbox: deferred (attempt %d): %s",
                            message_id, item.attempts, error)

    def _mark_down(self, error: str, items: list) -> None:  # type: ignore[type-arg]
        # The server, not the mail, is the problem: push the batch back without
        # spending their attempts, and log once per outage, not once per try.
        now = self.clock.now()
        if self._down_since is None:
            self._down_since = now
            log.warning("outbox: cannot hand mail to the server, will retry: %s", error)
        with self.db.transaction() as s:
            for item in items:
                row = s.get(OutboxItem, item[0])
                if row is not None and row.sent_at is None and row.claimed_by == self.holder:
                    row.last_error = error
                    row.claimed_by = None
                    row.next_attempt_at = now + timedelta(seconds=random.uniform(5, 15))
