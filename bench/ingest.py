"""Throughput stages: raw IMAP fetch, mailticket's ingest of a backlog, outbox delivery."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from mailticket.app import App
from mailticket.config import load_config
from mailticket.ingest.imap import FETCH_BATCH, ImapPoller
from tests.mailservers import Dovecot


@dataclass
class Rate:
    count: int
    seconds: float
    note: str = ""

    @property
    def per_second(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0


def warm(dovecot: Dovecot, user: str) -> int:
    """Open the mailbox once so Dovecot indexes the seeded Maildir before anything is timed."""
    with dovecot.client(user, timeout=600) as client:
        return int(client.select_folder("INBOX", readonly=True)[b"EXISTS"])


def raw_fetch(dovecot: Dovecot, user: str) -> Rate:
    """UID FETCH BODY.PEEK[] in batches of 200 with imapclient: the ceiling for any
    IMAP ingest from this server."""
    with dovecot.client(user, timeout=600) as client:
        start = time.perf_counter()
        client.select_folder("INBOX", readonly=True)
        uids = sorted(client.search(["ALL"]))
        size = 0
        for i in range(0, len(uids), FETCH_BATCH):
            data = client.fetch(uids[i:i + FETCH_BATCH], ["BODY.PEEK[]"])
            size += sum(len(item[b"BODY[]"]) for item in data.values())
        seconds = time.perf_counter() - start
    return Rate(len(uids), seconds, f"{size / seconds / 1e6:.0f} MB/s")


def make_app(config_path: Path, apart: bool = False) -> App:
    """``apart``: the schema built in a child process, as ``mailticket run`` does."""
    app = App(load_config(str(config_path)))
    app.ensure_schema(apart=apart)
    return app


def ingest(app: App) -> Rate:
    """One ``poll_once`` over the whole backlog: fetch, parse, classify, thread, store,
    and queue every auto-response and notification, one transaction per mail."""
    dept = app.config.department("support")
    start = time.perf_counter()
    handled = ImapPoller(app, dept).poll_once()
    return Rate(handled, time.perf_counter() - start)


def send(app: App) -> Rate:
    """``app.outbox.deliver()`` until the outbox is empty (one SMTP session per
    ``deliver`` batch)."""
    sent = 0
    start = time.perf_counter()
    while True:
        report = app.outbox.deliver()
        if report.down:
            raise RuntimeError(f"SMTP sink unreachable: {report.down}")
        if not report.sent + report.deferred + report.failed:
            break
        sent += report.sent
    return Rate(sent, time.perf_counter() - start)
