"""The long-running daemon: pollers, listener and outbox on one scheduler.

Each department's poll and the outbox are APScheduler interval jobs with one
instance at a time.  New mail wakes the outbox at once, so an auto-response does
not wait for the next outbox tick.  SIGTERM and SIGINT stop it cleanly: the mail
in hand is finished, nothing new is started.
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import UTC, datetime

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from mailticket.app import App
from mailticket.ingest.imap import ImapPoller
from mailticket.ingest.listener import Listener

log = logging.getLogger("mailticket.daemon")


class Daemon:
    def __init__(self, app: App) -> None:
        self.app = app
        workers = 2 + sum(1 for d in app.config.departments if d.imap)
        self.scheduler = BackgroundScheduler(
            timezone=UTC, executors={"default": ThreadPoolExecutor(workers)},
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
        )
        self.pollers = [ImapPoller(app, d) for d in app.config.departments if d.imap]
        self.listener = Listener(app, self.wake_outbox) if app.config.listener.enabled else None
        self.stopping = threading.Event()

    def wake_outbox(self) -> None:
        job = self.scheduler.get_job("outbox")
        if job is not None and not self.stopping.is_set():
            job.modify(next_run_time=datetime.now(UTC))

    def _poll(self, poller: ImapPoller) -> None:
        if poller.run():
            self.wake_outbox()

    def _escalate(self) -> None:
        if self.app.escalator.run(self.app.clock.now()):
            self.wake_outbox()

    def _deliver(self) -> None:
        while not self.stopping.is_set():
            report = self.app.outbox.deliver()
            if report.down or report.sent + report.deferred + report.failed == 0:
                return

    def start(self) -> None:
        now = datetime.now(UTC)
        for p in self.pollers:
            self.scheduler.add_job(self._poll, "interval", args=[p], id=f"poll:{p.dept.name}",
                                   seconds=p.cfg.poll_interval, next_run_time=now)
        self.scheduler.add_job(self._escalate, "interval", id="sla",
                               seconds=self.app.config.sla.check_interval, next_run_time=now)
        self.scheduler.add_job(self._deliver, "interval", id="outbox",
                               seconds=self.app.config.outgoing.interval, next_run_time=now)
        self.scheduler.start()
        if self.listener:
            self.listener.start()
        log.info("mailticket running: %d IMAP department(s), listener %s, outbox via %s",
                 len(self.pollers), "on" if self.listener else "off",
                 self.app.config.outgoing.transport)

    def stop(self) -> None:
        self.stopping.set()
        if self.listener:
            self.listener.stop()
        self.scheduler.shutdown(wait=True)
        log.info("mailticket stopped")


def run(app: App) -> None:
    daemon = Daemon(app)
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("signal %s: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    daemon.start()
    try:
        while not stop.wait(1.0):
            pass
    finally:
        daemon.stop()
