"""Who holds a claim: every daemon, and every one-shot CLI run that claims mail
(``poll --once``, ``outbox --retry``), registers in the ``daemons`` table and keeps a
heartbeat.  A claim held in its name stays valid while it lives, so nobody waits out a
lease for a process that is gone:

- a daemon that starts frees the claims of its dead predecessors on the same host at
  once (their pid is gone, a zombie, or now another process: started after them);
- any daemon takes over the claims of one whose heartbeat is older than DEAD_AFTER;
- a clean stop deletes its row and frees its claims.

Claims are outbox batches (``outbox.claimed_by``) and department mailboxes
(``mailbox_leases``, mailticket.leases): freeing a holder frees both.

Liveness is judged by the wall clock (``Clock()``), never by an App's test clock: it
is about real processes.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Select, delete, insert, or_, select, update
from sqlalchemy.orm import Session

from mailticket.clock import Clock
from mailticket.store.db import Database
from mailticket.store.models import DaemonRecord, MailboxLease, OutboxItem

if TYPE_CHECKING:
    from mailticket.app import App

log = logging.getLogger("mailticket.daemons")

HEARTBEAT = 2.0  # seconds between heartbeats: one UPDATE of one row
# A holder silent this long is dead.  Five beats, not two: a SQLite writer lock held by
# a 200-mail batch, or two busy cores, may delay a beat or two without killing anyone.
DEAD_AFTER = 10.0
PID_START_SLACK = 1.0  # /proc's boot time has whole seconds


def live(now: datetime, dead_after: float = DEAD_AFTER) -> Select[int]:
    """The ids of holders whose heartbeat is fresh."""
    return select(DaemonRecord.id).where(
        DaemonRecord.heartbeat_at >= now - timedelta(seconds=dead_after))


def _boot_time() -> float:
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    raise OSError("no btime in /proc/stat")


def process_alive(pid: int, started_at: datetime) -> bool:
    """Whether ``pid`` is still the process that registered at ``started_at``.  On Linux
    a zombie is dead and a process started after the registration is a reused pid;
    elsewhere only the pid is checked (a reused pid then looks alive until its
    heartbeat ages out, DEAD_AFTER)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return not Path("/proc/self/stat").exists() and _signal_alive(pid)
    except OSError:
        return _signal_alive(pid)
    fields = stat.rsplit(")", 1)[1].split()  # the name in () may hold spaces
    if fields[0] in ("Z", "X"):
        return False
    started = _boot_time() + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    return started <= started_at.timestamp() + PID_START_SLACK


def _signal_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def free(s: Session, ids: list[int], now: datetime) -> int:
    """Delete these holders and make what they held due now (their mail, their
    mailboxes); returns the mails freed."""
    if not ids:
        return 0
    # The epoch stays: it changes when the next holder takes the mailbox.  A row locked by
    # a frozen holder's commit is skipped, not waited for: a balancing round takes it
    # once that transaction ends.
    held = list(s.scalars(select(MailboxLease.department).where(
        MailboxLease.holder.in_(ids)).with_for_update(skip_locked=True)))
    if held:
        s.execute(update(MailboxLease).where(MailboxLease.department.in_(held))
                  .values(holder=None))
    done = s.execute(update(OutboxItem).where(
        OutboxItem.claimed_by.in_(ids), OutboxItem.sent_at.is_(None),
        OutboxItem.failed_at.is_(None)).values(claimed_by=None, next_attempt_at=now))
    s.execute(delete(DaemonRecord).where(DaemonRecord.id.in_(ids)))
    return int(done.rowcount or 0)  # type: ignore[attr-defined]


class Registry:
    """This process's row in ``daemons`` and the thread that keeps its heartbeat."""

    def __init__(self, db: Database, command: str, interval: float = HEARTBEAT,
                 dead_after: float = DEAD_AFTER) -> None:
        self.db = db
        self.command = command
        self.interval = interval
        self.dead_after = dead_after
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.id: int | None = None
        self.started_at: datetime | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False
        # Called in the heartbeat's thread after each beat that worked (the mailbox
        # leases' balancing round): never behind a busy scheduler.
        self.on_beat: Callable[[], None] | None = None

    def register(self) -> int:
        """Free dead predecessors' claims, then enter this process; returns its id."""
        now = self.started_at = Clock().now()
        with self.db.transaction() as s:
            dead = self._dead(s, now)
            freed = free(s, [d.id for d in dead], now)
            row = DaemonRecord(host=self.host, pid=self.pid, command=self.command,
                               started_at=now, heartbeat_at=now)
            s.add(row)
            s.flush()
            self.id = row.id
        for d in dead:
            log.info("daemon %d (%s pid %d) is gone: its claims are free", d.id, d.host, d.pid)
        if freed:
            log.warning("%d mail(s) claimed by stopped daemons: sending them now", freed)
        return self.id

    def _dead(self, s: Session, now: datetime) -> list[DaemonRecord]:
        """Silent ones anywhere, and this host's whose process is gone."""
        stale = now - timedelta(seconds=self.dead_after)
        rows = s.scalars(select(DaemonRecord).where(or_(
            DaemonRecord.host == self.host, DaemonRecord.heartbeat_at < stale))).all()
        return [r for r in rows
                if r.heartbeat_at < stale or not process_alive(r.pid, r.started_at)]

    def beat(self) -> None:
        """Refresh the heartbeat; if another daemon took this one for dead (a long stall)
        and deleted its row, enter again under the same id."""
        assert self.id is not None and self.started_at is not None
        now = Clock().now()
        with self.db.transaction() as s:
            done = s.execute(update(DaemonRecord).where(DaemonRecord.id == self.id)
                             .values(heartbeat_at=now))
            if not done.rowcount:  # type: ignore[attr-defined]
                log.warning("daemon %d was taken for dead (heartbeat late): registering "
                            "again", self.id)
                s.execute(insert(DaemonRecord).values(
                    id=self.id, host=self.host, pid=self.pid, command=self.command,
                    started_at=self.started_at, heartbeat_at=now))

    def _beating(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.beat()
            except Exception as e:  # the database is away: one line per outage
                if not self._failing:
                    log.warning("heartbeat failing, will retry: %s: %s", type(e).__name__, e)
                self._failing = True
                continue
            if self._failing:
                log.warning("heartbeat working again")
                self._failing = False
            if self.on_beat is not None:
                try:
                    self.on_beat()
                except Exception as e:  # logged there once per outage; never stops beats
                    log.debug("after the heartbeat: %s: %s", type(e).__name__, e)

    def start(self) -> int:
        """Register and keep the heartbeat in a thread of its own (no scheduler job:
        a busy pool must not make this process look dead)."""
        holder = self.register()
        self._thread = threading.Thread(target=self._beating, name="heartbeat", daemon=True)
        self._thread.start()
        return holder

    def silence(self) -> None:
        """Stop the heartbeat and leave the row: as a frozen or killed process would."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def stop(self) -> None:
        """A clean stop: no more heartbeats, the row deleted, anything still held free."""
        self.silence()
        if self.id is None:
            return
        with self.db.transaction() as s:
            free(s, [self.id], Clock().now())
        self.id = None


@contextmanager
def holding(app: App, command: str) -> Iterator[Registry]:
    """Run a one-shot command's claims in a name of its own, freed at exit (at once; if
    the command is killed, by the next daemon to start here or within DEAD_AFTER)."""
    registry = Registry(app.db, command, app.config.daemons.heartbeat,
                        app.config.daemons.dead_after)
    app.outbox.holder = registry.start()
    try:
        yield registry
    finally:
        app.outbox.holder = None
        registry.stop()


def running_daemons(s: Session, now: datetime | None = None,
                    dead_after: float = DEAD_AFTER) -> list[DaemonRecord]:
    """The live holders, oldest first: what ``status`` lists.  One of this host whose
    process is gone is left out at once, before its heartbeat ages."""
    now = now or Clock().now()
    host = socket.gethostname()
    rows = s.scalars(select(DaemonRecord).where(DaemonRecord.id.in_(live(now, dead_after)))
                     .order_by(DaemonRecord.id))
    return [r for r in rows if r.host != host or process_alive(r.pid, r.started_at)]
