"""The long-running daemon: pollers, IDLE listeners, SMTP/LMTP listener, the SLA
scan and the outbox, on one APScheduler.

Each department's poll, the SLA scan and the outbox are interval jobs with one
instance at a time.  Events wake them early: IDLE wakes its department's poll,
new mail wakes the outbox, so an auto-response does not wait for a tick.  A wake
that comes while the job is running makes it go round once more instead of
being dropped.  SIGTERM and SIGINT stop it cleanly: the mail in hand is
finished, nothing new is started.  The daemon registers in the database and keeps a
heartbeat (mailticket.daemons): what it claims is held in its name, so a successor
or a second daemon takes it over at once when it dies.  It polls, and holds IDLE
connections for, only the mailboxes whose lease it holds (mailticket.leases): after
each heartbeat a balancing round may give it a mailbox (a poll job and an IDLE
thread start) or take one away (both stop).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler

from mailticket.app import App
from mailticket.customers import retention
from mailticket.daemons import Registry
from mailticket.ingest.idle import Idler
from mailticket.ingest.imap import ImapPoller
from mailticket.ingest.listener import Listener
from mailticket.leases import MailboxLeases
from mailticket.memory import settle
from mailticket.ops import metrics
from mailticket.systemd import notify

log = logging.getLogger("mailticket.daemon")


class Daemon:
    def __init__(self, app: App) -> None:
        self.app = app
        beats = app.config.daemons
        self.registry = Registry(app.db, "run", beats.heartbeat, beats.dead_after)
        # Twice the time after which the others take a silent daemon's mailboxes over.
        app.db.end_stalled_transactions(2 * beats.dead_after)
        self.stopping = threading.Event()
        imap = [d for d in app.config.departments if d.imap]
        self.leases = MailboxLeases(app.db, self.registry, [d.name for d in imap],
                                    self._gained, self._lost)
        self.pollers = {d.name: ImapPoller(app, d, self.stopping, self.leases) for d in imap}
        workers = 3 + len(self.pollers)
        self.scheduler = BackgroundScheduler(
            timezone=UTC, executors={"default": ThreadPoolExecutor(workers)},
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
        )
        self._wanted: dict[str, threading.Event] = {}
        self._failing: dict[str, bool] = {}
        self.idlers: dict[str, Idler] = {}  # one per held mailbox whose server has IDLE
        self._holding = threading.Lock()  # the idlers, between a round and a stop
        self.listener = Listener(app, self.waker("outbox")) if app.config.listener.enabled \
            else None

    # -- jobs -------------------------------------------------------------------------
    def waker(self, job_id: str) -> Callable[[], None]:
        """A callback for other threads: run that job now, or once more if it is running."""
        def wake() -> None:
            if self.stopping.is_set() or job_id not in self._wanted:
                return
            self._wanted[job_id].set()
            with contextlib.suppress(JobLookupError):  # shutting down
                self.scheduler.modify_job(job_id, next_run_time=datetime.now(UTC))
        return wake

    def _add(self, job_id: str, step: Callable[[], bool], seconds: float) -> None:
        """``step`` returns True when it has more to do right away (or woke the outbox)."""
        wanted = self._wanted[job_id] = threading.Event()

        def job() -> None:
            while not self.stopping.is_set():
                wanted.clear()
                try:
                    more = step()
                except Exception as e:  # e.g. the database is down: one line per outage
                    if not self._failing.get(job_id):
                        log.warning("%s failing, will retry: %s: %s", job_id,
                                    type(e).__name__, e)
                    self._failing[job_id] = True
                    return
                if self._failing.pop(job_id, False):
                    log.warning("%s working again", job_id)
                if not (more or wanted.is_set()):
                    return

        self.scheduler.add_job(job, "interval", id=job_id, seconds=seconds,
                               next_run_time=datetime.now(UTC), replace_existing=True)

    # -- mailboxes this daemon holds ----------------------------------------------------
    def _gained(self, department: str) -> None:
        """The lease is ours: poll it now and on its interval, and listen with IDLE."""
        poller = self.pollers[department]
        with self._holding:
            if self.stopping.is_set():
                return  # the stop frees the lease
            self._add(f"poll:{department}", self._poll_step(poller), poller.cfg.poll_interval)
            if poller.cfg.idle and department not in self.idlers:
                idler = self.idlers[department] = Idler(
                    department, poller.cfg, self.waker(f"poll:{department}"),
                    threading.Event())
                idler.start()

    def _lost(self, department: str) -> None:
        """Another daemon's now (or let go): no more polls, the IDLE connection closed
        (within a second).  A poll running now finds its batch fenced off."""
        with self._holding:
            self._wanted.pop(f"poll:{department}", None)
            with contextlib.suppress(JobLookupError):
                self.scheduler.remove_job(f"poll:{department}")
            idler = self.idlers.pop(department, None)
        if idler is not None:
            idler.stop.set()

    def _balance(self) -> None:
        with contextlib.suppress(Exception):  # logged by the round; the next beat retries
            self.leases.round()

    def _poll_step(self, poller: ImapPoller) -> Callable[[], bool]:
        def step() -> bool:
            if poller.run():
                self.waker("outbox")()
            return False
        return step

    def _escalate(self) -> bool:
        now = self.app.clock.now()
        if self.app.escalator.run(now) + self.app.asker.run(now):
            self.waker("outbox")()
        return False

    def _sum_days(self) -> bool:
        """The report's finished days, summed once (report/days.py)."""
        from mailticket.report import days

        days.run(self.app.db, self.app.config, self.app.clock.now())
        return False

    def _deliver(self) -> bool:
        report = self.app.outbox.deliver()
        return not report.down and report.sent + report.deferred + report.failed > 0

    # -- life cycle ---------------------------------------------------------------------
    def start(self) -> None:
        for warning in self.app.config.warnings():
            log.warning("configuration: %s", warning)
        # Parse workers start now, so the first backlog finds them up; only mail fetched
        # over IMAP goes to them (the listener's mail comes one at a time).
        if self.pollers:
            self.app.parser.ready()
        # Before the first claim; frees what predecessors killed on this host held.
        self.app.outbox.holder = self.registry.start()
        self.app.outbox.dead_after = self.registry.dead_after
        if self.pollers:
            self.leases.prepare()
        self._add("sla", self._escalate, self.app.config.sla.check_interval)
        self._add("outbox", self._deliver, self.app.config.outgoing.interval)
        self._add("report-days", self._sum_days, 3600)
        if retention.enabled(self.app.config):  # closed tickets past [retention] closed_after
            self._add("retention", lambda: retention.run(self.app),
                      self.app.config.retention.check_every_period.total_seconds())
        settle()  # before the first poll: nothing of a batch in flight is kept
        self.scheduler.start()
        # The first round now, before the first heartbeat: a lone daemon, or one whose
        # killed predecessor was just freed, holds its mailboxes at once.
        self._balance()
        self.registry.on_beat = self._balance
        if self.listener:
            self.listener.start()
        log.info("mailticket running: %d IMAP department(s), %d held here (%d with IDLE), "
                 "listener %s, outbox via %s", len(self.pollers), len(self.leases.held),
                 len(self.idlers), self.app.config.listener.protocol if self.listener
                 else "off", self.app.config.outgoing.transport)
        self.metrics = metrics.serve(self.app)
        notify("READY=1")

    def stop(self) -> None:
        notify("STOPPING=1")
        self.registry.on_beat = None
        with self._holding:
            self.stopping.set()
            idlers = list(self.idlers.values())
        for idler in idlers:
            idler.stop.set()
        if getattr(self, "metrics", None) is not None:
            self.metrics.shutdown()
        if self.listener:
            self.listener.stop()
        self.scheduler.shutdown(wait=True)
        for idler in idlers:
            idler.join(timeout=5)
        self.registry.stop()  # nothing is claimed once the jobs are done: frees the rest
        log.info("mailticket stopped")


def catch_stop_signals() -> threading.Event:
    """SIGTERM and SIGINT set the returned event from now on.  Installed before the
    daemon opens its database, so a stop that comes while it starts is a clean stop
    (exit 0), not a death by signal."""
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("signal %s: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return stop


def run(app: App, stop: threading.Event | None = None) -> None:
    stop = stop or catch_stop_signals()
    if stop.is_set():
        return
    daemon = Daemon(app)
    daemon.start()
    try:
        while not stop.wait(1.0):
            pass
    finally:
        daemon.stop()
