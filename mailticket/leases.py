"""Mailbox leases: each department's mailbox is fetched by one daemon at a time, and
the mailboxes are divided evenly among the live daemons (``mailticket run``).

A lease (``mailbox_leases``) names its holder, a row of ``daemons``: it is held while
that holder's heartbeat is fresh, so one heartbeat renews all of a daemon's leases.
After each heartbeat a daemon runs one balancing round: it lets go of what it holds
beyond its share and takes free mailboxes (no holder, or a holder gone silent) up to
its share.  Shares are fixed by the live daemons' ids (the oldest get the remainder),
so every daemon computes the same division and nothing flaps back and forth.

Fencing: ``epoch`` grows at every change of holder.  A poll notes the epoch it starts
under, and each batch it stores checks, inside the batch's own transaction, that its
daemon still holds the lease at that epoch (a conditional UPDATE that also locks the
row against a takeover until the batch commits).  A daemon that was paused or cut
off past its lease therefore commits nothing: its batch rolls back with LeaseLost,
and the new holder fetches those mails from the watermark.
"""

from __future__ import annotations

import logging
import threading
import zlib
from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mailticket.clock import Clock
from mailticket.daemons import Registry, live
from mailticket.store.db import Database
from mailticket.store.models import DaemonRecord, MailboxLease

log = logging.getLogger("mailticket.leases")


class LeaseLost(Exception):
    """The mailbox passed to another daemon (or was let go) since this poll began."""


def share(daemons: Sequence[int], me: int, mailboxes: int) -> int:
    """How many of ``mailboxes`` daemon ``me`` holds among the live ``daemons``: an even
    share, the oldest daemons (lowest ids) one more when the division leaves a rest."""
    ranked = sorted(set(daemons))
    if me not in ranked:
        return 0
    base, rest = divmod(mailboxes, len(ranked))
    return base + (1 if ranked.index(me) < rest else 0)


def plan(held: Sequence[str], free: Sequence[str], quota: int, me: int
         ) -> tuple[list[str], list[str]]:
    """What to let go of (beyond ``quota``) and which free mailboxes to try, in order,
    to reach it.  Each daemon tries the free ones in an order of its own, so that two
    daemons taking over at once mostly want different mailboxes."""
    keep = sorted(held)
    release = keep[quota:]
    want = max(0, quota - len(keep))
    order = sorted(free, key=lambda d: (zlib.crc32(f"{me}:{d}".encode()), d))
    return release, order if want else []


class MailboxLeases:
    """This daemon's leases: the balancing round, and the fence for its batches."""

    def __init__(self, db: Database, registry: Registry, departments: Sequence[str],
                 on_gain: Callable[[str], None], on_loss: Callable[[str], None]) -> None:
        self.db = db
        self.registry = registry
        self.departments = sorted(departments)
        self.on_gain = on_gain
        self.on_loss = on_loss
        self.held: dict[str, int] = {}  # department -> epoch it was taken at
        self._lock = threading.Lock()  # one round at a time
        self._failing = False

    # -- for the pollers --------------------------------------------------------------
    def epoch(self, department: str) -> int | None:
        """The epoch this daemon holds ``department`` at; None: not held, do not poll."""
        return self.held.get(department)

    def fence(self, s: Session, department: str, epoch: int) -> None:
        """In a batch's transaction: go on only if the lease is still ours at ``epoch``.
        The UPDATE locks the row, so a takeover waits for (or, skipping locked rows,
        leaves alone) a batch that passed."""
        done = s.execute(update(MailboxLease).where(
            MailboxLease.department == department, MailboxLease.holder == self.registry.id,
            MailboxLease.epoch == epoch).values(epoch=MailboxLease.epoch))
        if done.rowcount != 1:  # type: ignore[attr-defined]
            raise LeaseLost(f"{department}: the mailbox is no longer held by this daemon "
                            f"(epoch {epoch}); the batch is rolled back")

    # -- the balancing round ----------------------------------------------------------
    def prepare(self) -> None:
        """A lease row for every configured department that has none yet.  Two daemons
        starting at once may both insert one: the loser finds it there the next time."""
        for attempt in range(2):
            try:
                with self.db.transaction() as s:
                    have = set(s.scalars(select(MailboxLease.department)))
                    s.add_all(MailboxLease(department=d, holder=None, epoch=0)
                              for d in self.departments if d not in have)
                return
            except IntegrityError:
                if attempt:
                    raise

    def round(self) -> None:
        """One balancing round; the gains and losses are acted on after it commits."""
        me = self.registry.id
        if me is None or not self.departments:
            return
        with self._lock:
            try:
                mine = self._balance(me, Clock().now())
            except Exception as e:
                if not self._failing:
                    log.warning("mailbox leases: balancing failing, will retry: %s: %s",
                                type(e).__name__, e)
                self._failing = True
                raise
            if self._failing:
                log.warning("mailbox leases: balancing working again")
                self._failing = False
            before, self.held = self.held, mine
        for d in sorted(before):
            if mine.get(d) != before[d]:
                log.info("mailbox %s: let go (now %s)", d, "held again" if d in mine
                         else "another daemon's or free")
                self.on_loss(d)
        for d in sorted(mine):
            if before.get(d) != mine[d]:
                log.info("mailbox %s: held by this daemon (epoch %d)", d, mine[d])
                self.on_gain(d)

    def _balance(self, me: int, now: datetime) -> dict[str, int]:
        dead_after = self.registry.dead_after
        alive = live(now, dead_after)
        with self.db.transaction() as s:
            runners = list(s.scalars(select(DaemonRecord.id).where(
                DaemonRecord.id.in_(alive), DaemonRecord.command == "run")))
            ours = set(self.departments)
            # Its own rows (by the holder index), and the free ones only when under its
            # share: a round at its share reads M / D rows, not the whole table.
            mine = {r.department: r.epoch for r in s.execute(
                select(MailboxLease.department, MailboxLease.epoch)
                .where(MailboxLease.holder == me)) if r.department in ours}
            quota = share(runners, me, len(self.departments))
            free: list[str] = []
            if len(mine) < quota:
                free = [d for d in s.scalars(select(MailboxLease.department).where(or_(
                    MailboxLease.holder.is_(None), MailboxLease.holder.not_in(alive))))
                    if d in ours]
            release, candidates = plan(list(mine), free, quota, me)
            if release:
                s.execute(update(MailboxLease).where(
                    MailboxLease.department.in_(release), MailboxLease.holder == me)
                    .values(holder=None))
                for d in release:
                    del mine[d]
                log.info("mailboxes %s let go: %d daemon(s) share %d mailboxes, %d here",
                         ", ".join(release), len(runners), len(self.departments), quota)
            for d in candidates:
                if len(mine) >= quota:
                    break
                epoch = self._take(s, d, me, now, dead_after)
                if epoch is not None:
                    mine[d] = epoch
        return mine

    @staticmethod
    def _take(s: Session, department: str, me: int, now: datetime, dead_after: float
              ) -> int | None:
        """Take one free mailbox; None if another daemon was quicker or is committing a
        batch under it (its row locked: skipped, not waited for)."""
        row = s.execute(select(MailboxLease.epoch).where(
            MailboxLease.department == department,
            or_(MailboxLease.holder.is_(None),
                MailboxLease.holder.not_in(live(now, dead_after))))
            .with_for_update(skip_locked=True)).first()
        if row is None:
            return None
        epoch = int(row.epoch) + 1
        s.execute(update(MailboxLease).where(MailboxLease.department == department)
                  .values(holder=me, epoch=epoch, acquired_at=now))
        return epoch

