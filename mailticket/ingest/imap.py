"""One IMAP poller per department: UID sync that never relies on \\Seen.

People read these mailboxes too, so the unread flag means nothing to us.  We
remember UIDVALIDITY and the highest UID handled; that watermark moves in the
same transaction as the mail it covers, so a crash at any instant either redoes
a mail (and the Message-ID check drops it) or does not need to.  In the daemon a
poll runs only while its daemon holds the mailbox's lease (mailticket.leases), and
each of its transactions commits only if the lease is still held at the epoch the
poll began under.
"""

from __future__ import annotations

import logging
import random
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from imapclient import IMAPClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mailticket.app import App
from mailticket.config import DepartmentConfig, ImapConfig
from mailticket.ingest.imapconn import ImapLogin, open_imap
from mailticket.leases import LeaseLost, MailboxLeases
from mailticket.memory import trim_heap
from mailticket.ops.metrics import FETCH_ERRORS, FETCHES
from mailticket.store.models import MailboxState

log = logging.getLogger("mailticket.ingest.imap")

FETCH_BATCH = 200  # mails per FETCH, and per transaction (one commit, watermark included)
FETCH_BYTES = 32 * 1024 * 1024
BACKLOG = 50  # more new mails than this: a backlog, the next batch fetched while one is stored
AHEAD = 2  # batches a parse worker fetches and parses while one is stored (else 1)
WORKER_START_WAIT = 10.0  # seconds a poll waits for parse workers still starting


@dataclass
class _Fetched:
    uids: list[int]
    uidvalidity: int
    items: list[tuple[bytes, str]]  # fetched here, or by the worker once collected
    fetching: Future[Any] | None = None  # a parse worker's fetch and parse


def login(cfg: ImapConfig) -> ImapLogin:
    return ImapLogin(host=cfg.host, port=cfg.port, security=cfg.security,
                     username=cfg.username, password=cfg.resolved_password() or "",
                     timeout=cfg.timeout, ca_file=cfg.ca_file)


def connect(cfg: ImapConfig) -> IMAPClient:
    return open_imap(login(cfg))


class ImapPoller:
    def __init__(self, app: App, dept: DepartmentConfig,
                 stop: threading.Event | None = None,
                 leases: MailboxLeases | None = None) -> None:
        assert dept.imap is not None
        self.stop = stop or threading.Event()
        # None (poll --once, tests): no lease, Message-IDs keep each mail once.
        self.leases = leases
        self._epoch: int | None = None  # the lease epoch this poll runs under
        self.app = app
        self.dept = dept
        self.cfg: ImapConfig = dept.imap
        self.failing_since: datetime | None = None
        self.failures = 0
        self.retry_at: datetime | None = None

    # -- the watermark --------------------------------------------------------------
    def _state(self, s: Session) -> MailboxState:
        row = s.scalar(select(MailboxState).where(
            MailboxState.department == self.dept.name, MailboxState.folder == self.cfg.folder))
        if row is None:
            row = MailboxState(department=self.dept.name, folder=self.cfg.folder, last_uid=0)
            s.add(row)
            s.flush()
        return row

    def _advance(self, uid: int) -> Callable[[Session], None]:  # a closure for App.ingest
        def advance(s: Session) -> None:
            s.execute(update(MailboxState).where(
                MailboxState.department == self.dept.name,
                MailboxState.folder == self.cfg.folder,
                MailboxState.last_uid < uid).values(last_uid=uid))
            self._fence(s)  # last: the lease row stays locked only until the commit
        return advance

    def _fence(self, s: Session) -> None:
        """Raise LeaseLost, in ``s``, if the mailbox passed to another daemon."""
        if self.leases is not None:
            assert self._epoch is not None
            self.leases.fence(s, self.dept.name, self._epoch)

    # -- one poll -------------------------------------------------------------------
    def poll_once(self) -> int:
        """Fetch and process everything new; returns how many mails were handled."""
        client = connect(self.cfg)
        try:
            return self._sync(client)
        finally:
            try:
                client.logout()
            except Exception:  # the server may already be gone; nothing to save
                client.shutdown()

    def _sync(self, client: IMAPClient) -> int:
        if self.leases is not None:
            self._epoch = self.leases.epoch(self.dept.name)
            if self._epoch is None:
                return 0  # let go since the poll was due: the holder polls it
        info = client.select_folder(self.cfg.folder, readonly=True)
        uidvalidity = int(info[b"UIDVALIDITY"])
        with self.app.db.transaction() as s:
            state = self._state(s)
            if state.uidvalidity != uidvalidity:
                self._fence(s)  # the watermark is reset: only by the holder
                if state.uidvalidity is not None:
                    log.warning("%s: UIDVALIDITY changed %s -> %s; resynchronising "
                                "(mail already stored is recognised by Message-ID)",
                                self.dept.name, state.uidvalidity, uidvalidity)
                state.uidvalidity = uidvalidity
                state.last_uid = 0
            last_uid = state.last_uid
        uids = sorted(u for u in client.search(["UID", f"{last_uid + 1}:*"]) if u > last_uid)
        if not uids:
            return 0
        # With parse workers every mail goes to them (a round trip costs a millisecond),
        # so this process never loads the language models.  Asked again for each batch:
        # a worker still starting when the poll began (a loaded machine takes longer than
        # WORKER_START_WAIT) takes the backlog's later batches, not none of them.
        self.app.parser.ready(wait=WORKER_START_WAIT)
        parser = self.app.parser
        if len(uids) <= BACKLOG:  # the common case: a few new mails, no threads
            return sum(self._store(self._fetch(client, b, uidvalidity, parser.ready()))
                       for b in self._batches(client, uids))
        # A backlog: a thread sizes and fetches the next batch (and hands it to a parse
        # worker, if there is one) while this thread stores the last.
        fetched_ahead = (self._fetch(client, b, uidvalidity, parser.ready())
                         for b in self._batches(client, uids))
        handled = 0
        with ThreadPoolExecutor(1, thread_name_prefix=f"fetch-{self.dept.name}") as fetcher:
            # Without a worker, a second batch ahead gained nothing and held up to another
            # FETCH_BYTES in memory.
            following = deque([fetcher.submit(next, fetched_ahead, None)])
            while len(following) < (AHEAD if parser.ready() else 1):
                following.append(fetcher.submit(next, fetched_ahead, None))
            while (fetched := following.popleft().result()) is not None:
                if self.stop.is_set():
                    for future in following:
                        future.cancel()
                    break  # the rest waits for the next start; nothing is lost
                following.append(fetcher.submit(next, fetched_ahead, None))
                while len(following) < (AHEAD if parser.ready() else 1):
                    following.append(fetcher.submit(next, fetched_ahead, None))
                handled += self._store(fetched)
        return handled

    def _fetch(self, client: IMAPClient, batch: list[int], uidvalidity: int,
               workers: bool) -> _Fetched:
        """The batch's mails, or, with workers, a worker's promise of them: it fetches
        them over a connection of its own and parses them, so that neither their bytes
        nor their parsing hold this process's GIL, which the writer needs."""
        if workers:
            fetching = self.app.parser.fetch(login(self.cfg), self.cfg.folder, uidvalidity,
                                             batch, self.dept.name)
            if fetching is not None:
                return _Fetched(batch, uidvalidity, [], fetching)
        return _Fetched(batch, uidvalidity, self._items(client, batch, uidvalidity))

    def _items(self, client: IMAPClient, uids: list[int],
               uidvalidity: int) -> list[tuple[bytes, str]]:
        data = client.fetch(uids, ["BODY.PEEK[]"])
        # Expunged between SEARCH and FETCH: nothing to keep, the mark moves on.
        return [(bytes(data[uid][b"BODY[]"]), self._source(uidvalidity, uid))
                for uid in uids if b"BODY[]" in data.get(uid, {})]

    def _source(self, uidvalidity: int, uid: int) -> str:
        return f"imap:{self.dept.name}:{uidvalidity}:{uid}"

    def _items_apart(self, uids: list[int], uidvalidity: int) -> list[tuple[bytes, str]]:
        """A worker could not fetch: over a connection of our own (the poll's may be busy
        in the fetch thread)."""
        client = connect(self.cfg)
        try:
            info = client.select_folder(self.cfg.folder, readonly=True)
            if int(info[b"UIDVALIDITY"]) != uidvalidity:
                raise RuntimeError(f"{self.dept.name}: UIDVALIDITY changed during a poll")
            return self._items(client, uids, uidvalidity)
        finally:
            client.logout()

    def _store(self, fetched: _Fetched) -> int:
        """Store a batch, then drop its bytes and give the heap they took back."""
        stored, size = self._store_batch(fetched)
        fetched.items, fetched.fetching = [], None
        trim_heap(size)
        return stored

    def _store_batch(self, fetched: _Fetched) -> tuple[int, int]:
        """One transaction: the batch's mails and the watermark past its last UID; how
        many mails, and their bytes."""
        items, prepared = fetched.items, None
        if fetched.fetching is not None:
            got = self.app.parser.fetched(fetched.fetching)
            if got is None:
                items = self._items_apart(fetched.uids, fetched.uidvalidity)
            else:
                uids, raws, prepared = got
                items = [(raw, self._source(fetched.uidvalidity, uid))
                         for uid, raw in zip(uids, raws, strict=True)]
        outcomes = self.app.ingest_batch(items, department=self.dept.name,
                                         also=self._advance(fetched.uids[-1]), prepared=prepared)
        for (_, source), outcome in zip(items, outcomes, strict=True):
            log.debug("%s %s: %s", outcome.message_id, source, outcome.action)
        return len(items), sum(len(raw) for raw, _ in items)

    @staticmethod
    def _batches(client: IMAPClient, uids: list[int]) -> Iterator[list[int]]:
        """Up to FETCH_BATCH mails and about FETCH_BYTES per FETCH, so a backlog of huge
        mails never sits in memory at once (one mail larger than that goes alone)."""
        for i in range(0, len(uids), FETCH_BATCH):
            chunk = uids[i:i + FETCH_BATCH]
            sizes = client.fetch(chunk, ["RFC822.SIZE"])
            current: list[int] = []
            total = 0
            for uid in chunk:
                size = int(sizes.get(uid, {}).get(b"RFC822.SIZE", 0))
                if current and total + size > FETCH_BYTES:
                    yield current
                    current, total = [], 0
                current.append(uid)
                total += size
            if current:
                yield current

    # -- the scheduled job: never raises, backs off, logs once per outage -------------
    def run(self) -> int:
        now = self.app.clock.now()
        if self.retry_at and now < self.retry_at:
            return 0
        if self.leases is not None and self.leases.epoch(self.dept.name) is None:
            return 0  # not ours (any more): no connection, no fetch counted
        FETCHES.labels(self.dept.name).inc()
        try:
            handled = self.poll_once()
        except LeaseLost as e:
            log.info("%s: %s; its holder fetches these mails again", self.dept.name, e)
            return 0
        except Exception as e:
            FETCH_ERRORS.labels(self.dept.name).inc()
            self._failed(e, now)
            return 0
        self._succeeded(now)
        return handled

    def _failed(self, e: Exception, now: datetime) -> None:
        self.failures += 1
        delay = min(300.0, self.cfg.poll_interval * 2 ** min(self.failures, 8))
        self.retry_at = now + timedelta(seconds=delay * random.uniform(0.5, 1.0))
        message = f"{type(e).__name__}: {e}"
        if self.failing_since is None:
            self.failing_since = now
            log.warning("%s: IMAP %s:%s failing, will retry with back-off: %s",
                        self.dept.name, self.cfg.host, self.cfg.port, message)
        else:
            log.debug("%s: IMAP still failing: %s", self.dept.name, message)
        try:
            with self.app.db.transaction() as s:
                state = self._state(s)
                state.last_error, state.last_error_at = message[:2000], now
        except Exception:
            log.debug("cannot record the IMAP error", exc_info=True)

    def _succeeded(self, now: datetime) -> None:
        if self.failing_since is not None:
            log.warning("%s: IMAP back after %s", self.dept.name, now - self.failing_since)
        self.failing_since, self.failures, self.retry_at = None, 0, None
        with self.app.db.transaction() as s:
            state = self._state(s)
            state.last_success_at = now  # last_error stays, with its time, for `status`
