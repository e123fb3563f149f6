"""Workers that fetch and prepare mail in processes of their own, so the one writer
never waits for it.

A worker fetches a batch over an IMAP connection of its own (read-only, BODY.PEEK) and
prepares it (``incoming.prepare``: parse, fingerprint, verdict, language; then the FAQ
match, ``faq.ahead``, against the indexes the daemon offered) while the daemon stores
the batch before: in the daemon, those bytes and that work would hold the GIL the
writer needs.
With workers, every fetched mail goes to them, so the daemon never loads the language
models. A worker that dies or cannot reach the server costs nothing but time: the
daemon fetches and prepares those mails itself.

A worker is ``python -m mailticket.ingest.workers``, fed over its stdin and answering on
its stdout, one pickled frame per batch, in order.  Not ``multiprocessing``: its fork
server and resource tracker are two more processes, and every worker it starts imports
the daemon's main module, so each carried the whole daemon (docs/benchmarks.md).  A
worker imports only the mail modules and imapclient, and notices a daemon killed
outright because its stdin ends.
"""

from __future__ import annotations

import json
import logging
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from concurrent.futures import wait as futures_wait
from typing import IO, TYPE_CHECKING, Any

from mailticket.faq.ahead import Offer, Shelves
from mailticket.incoming.language import LanguageDetector
from mailticket.incoming.prepare import Prepared, Preparer
from mailticket.ingest.imapconn import ImapLogin, open_imap
from mailticket.memory import settle

if TYPE_CHECKING:
    from imapclient import IMAPClient

    from mailticket.config import LanguageConfig

log = logging.getLogger("mailticket.ingest")


class WorkerFailed(RuntimeError):
    """A worker exited, could not start, or failed on a batch."""


class BatchFailed(WorkerFailed):
    """A worker that is still well could not do one batch (its IMAP server said no)."""


def _send(stream: IO[bytes], value: Any) -> None:
    # Pickled straight onto the pipe in 64 KB frames: no copy of a whole batch.
    pickle.dump(value, stream, protocol=pickle.HIGHEST_PROTOCOL)
    stream.flush()


def _receive(stream: IO[bytes]) -> Any:
    """The next value; EOFError when the other side is gone."""
    return pickle.load(stream)


# -- in the worker ---------------------------------------------------------------------
class _Fetcher:
    """A worker's side: its preparer (kept warm, language models loaded once), the FAQ
    indexes the daemon offered, and its IMAP connections (one per mailbox, kept between
    batches)."""

    def __init__(self, languages: list[str], low_memory: bool, min_confidence: float,
                 own: list[str], instance: str,
                 departments: dict[str, str] | None = None) -> None:
        detector = LanguageDetector(frozenset(languages), low_memory=low_memory)
        detector.warm_up()
        self.preparer = Preparer(detector, min_confidence, frozenset(own), instance)
        self.shelves = Shelves(departments or {})
        self.mailboxes: dict[tuple[str, int, str, str], IMAPClient] = {}

    def fetch_all(self, login: ImapLogin, folder: str, uidvalidity: int, uids: list[int],
                  department: str = "", offers: dict[tuple[str, str], Offer] | None = None,
                  ) -> tuple[list[int], list[bytes], list[Prepared]]:
        """Fetch these UIDs (read-only, BODY.PEEK) and prepare them: the UIDs still there,
        their bytes, the prepared mails, matched against the FAQ indexes (``offers``:
        new ones since the last batch) as mail of the mailbox's ``department``.  A
        connection that went stale (the server's idle timeout) is opened again once."""
        self.shelves.take(offers or {})
        key = (login["host"], login["port"], login["username"], folder)
        for attempt in (1, 2):
            client = self.mailboxes.get(key)
            try:
                if client is None:
                    client = open_imap(login)
                    self.mailboxes[key] = client
                    selected = client.select_folder(folder, readonly=True)
                    if int(selected[b"UIDVALIDITY"]) != uidvalidity:
                        raise RuntimeError("UIDVALIDITY changed")
                data = client.fetch(uids, ["BODY.PEEK[]"])
                missing = [uid for uid in uids if b"BODY[]" not in data.get(uid, {})]
                if missing:
                    # A session kept since an earlier batch has not been told of newer
                    # mail (RFC 3501: no FETCH data for messages it was not told of):
                    # NOOP brings the news; what is still missing then was expunged.
                    client.noop()
                    data.update(client.fetch(missing, ["BODY.PEEK[]"]))
                break
            except Exception:
                self.mailboxes.pop(key, None)
                if client is not None:
                    client.shutdown()
                if attempt == 2:
                    raise
        found = [uid for uid in uids if b"BODY[]" in data.get(uid, {})]
        raws = [bytes(data[uid][b"BODY[]"]) for uid in found]
        return found, raws, self.prepare_all(raws, department)

    def prepare_all(self, raws: Sequence[bytes], department: str = "") -> list[Prepared]:
        out = []
        for raw in raws:
            prepared = self.preparer.prepare(raw)
            mail = prepared.mail
            if prepared.language is not None:
                try:
                    prepared.faq = self.shelves.suggest(
                        (a.key for a in mail.all_recipients()), department,
                        prepared.language[0], mail.subject, mail.text)
                except Exception:  # the daemon matches it, and says what went wrong
                    prepared.faq = None
            mail.raw = b""  # the bytes go back once, beside the prepared mails
            out.append(prepared)
        return out


def worker_main() -> None:
    """Fetch and prepare each batch asked for on stdin, answer on stdout; exit when stdin
    ends."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the daemon, which stops us
    requests, answers = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not corrupt the frames
    try:
        parser = _Fetcher(**json.loads(sys.argv[1]))
    except Exception as e:
        _send(answers, (False, f"cannot start: {type(e).__name__}: {e}"))
        return
    settle()  # the language models and the modules, out of every later collection
    _send(answers, (True, None))
    while True:
        try:
            batch = _receive(requests)
        except EOFError:
            return  # the daemon closed our stdin, or is gone
        try:
            answer: tuple[bool, Any] = (True, parser.fetch_all(*batch))
        except Exception as e:
            answer = (False, f"{type(e).__name__}: {e}")
        try:
            _send(answers, answer)
        except BrokenPipeError:
            return  # the daemon is gone


# -- in the daemon ---------------------------------------------------------------------
class _Worker:
    """One worker process and the batches it owes, answered in the order sent."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", __name__, json.dumps(settings)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.failure: BaseException | None = None
        self.started: Future[Any] = Future()
        self._owed: deque[Future[Any]] = deque([self.started])
        self.offered: dict[tuple[str, str], Any] = {}  # FAQ index → version sent to it
        # Two locks: the reader must never wait for a writer, or a worker stuck writing an
        # answer and a daemon stuck writing the next batch would wait for each other.
        self._sending = threading.Lock()  # one batch on the pipe at a time
        self._owing = threading.Lock()  # _owed and failure; never held during I/O
        threading.Thread(target=self._answers, name=f"parse-worker-{self.proc.pid}",
                         daemon=True).start()

    def submit(self, request: tuple[Any, ...]) -> Future[Any]:
        future: Future[Any] = Future()
        future.set_running_or_notify_cancel()  # the worker gets it at once: no cancelling
        with self._sending:
            with self._owing:
                if self.failure is not None:
                    raise WorkerFailed(str(self.failure))
                self._owed.append(future)
            assert self.proc.stdin is not None
            try:
                _send(self.proc.stdin, request)
            except (OSError, ValueError) as e:  # the worker is gone
                self._fail(e)
                raise WorkerFailed(str(e)) from e
        return future

    def owed(self) -> int:
        return len(self._owed)

    def _answers(self) -> None:
        assert self.proc.stdout is not None
        try:
            while True:
                ok, value = _receive(self.proc.stdout)
                with self._owing:
                    future = self._owed.popleft()
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(BatchFailed(value))
        except Exception as e:
            # The worker exited or talks nonsense: it goes, and this thread reaps it.
            try:
                code = self.proc.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                code = self.proc.wait()
            self._fail(WorkerFailed(f"exited with {code}") if isinstance(e, EOFError) else e)

    def _fail(self, e: BaseException) -> None:
        """Every batch still owed fails, and every later one at once."""
        with self._owing:
            if self.failure is None:
                self.failure = e
            owed, self._owed = self._owed, deque()
        for future in owed:
            if not future.done():
                future.set_exception(WorkerFailed(str(e)))

    def stop(self, kill: bool) -> None:
        """The end of its stdin stops a worker once it has answered; one that may hang
        (or does not take its next batch in time) is killed."""
        self._fail(WorkerFailed("stopped"))
        if kill or not self._sending.acquire(timeout=5.0):
            self.proc.kill()
            return
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
        except OSError:
            pass
        finally:
            self._sending.release()


class ParsePool:
    """The daemon's parse workers.  Safe to use from several threads (the pollers' fetch
    threads submit, their writers collect); a worker that fails takes the pool down and,
    for a minute, mails are parsed in the daemon's own process, then workers are tried
    again."""

    RETRY_AFTER = 60.0  # seconds without workers after one failed

    def __init__(self, workers: int, languages: LanguageConfig, own: frozenset[str],
                 instance: str, departments: dict[str, str] | None = None) -> None:
        """``departments``: each department's address (lowercased) → its name, for the
        FAQ match made ahead."""
        self.workers = workers
        self.languages = languages
        self.own = own
        self.instance = instance
        self.departments = departments or {}
        self._offers: dict[tuple[str, str], Offer] = {}  # the daemon's current indexes
        self._lock = threading.Lock()
        self._pool: list[_Worker] | None = None
        self._retry_at = 0.0

    def _pool_now(self) -> list[_Worker] | None:
        """The running workers, started if need be; None while workers are off or backing
        off.  Called with the lock held."""
        if self._pool is None and time.monotonic() >= self._retry_at:
            settings = {"languages": sorted(self.languages.supported),
                        "low_memory": self.languages.low_memory,
                        "min_confidence": self.languages.min_confidence,
                        "own": sorted(self.own), "instance": self.instance,
                        "departments": self.departments}
            try:
                self._pool = [_Worker(settings) for _ in range(self.workers)]
            except OSError as e:
                self._retry_at = time.monotonic() + self.RETRY_AFTER
                log.warning("cannot start a parse worker (%s); parsing in the daemon's "
                            "process for %.0f s", e, self.RETRY_AFTER)
        return self._pool

    def ready(self, wait: float = 0.0) -> bool:
        """Whether the workers are up, waiting for them up to ``wait`` seconds; they are
        started if need be (a fifth of a second).  False while workers are off, backing
        off after a failure, or not up in time: the caller parses in-process."""
        if self.workers < 1:
            return False
        with self._lock:
            pool = self._pool_now()
        if pool is None:
            return False
        started = [w.started for w in pool]
        if futures_wait(started, timeout=wait).not_done:
            return False
        for w in pool:
            failure = w.started.exception() or w.failure
            if failure is not None:
                self._failed(failure)
                return False
        return True

    def fetch(self, login: ImapLogin, folder: str, uidvalidity: int, uids: list[int],
              department: str = "") -> Future[Any] | None:
        """A worker fetches these UIDs of ``department``'s mailbox and prepares them; None
        when there is no worker.  ``fetched`` gives the answer."""
        return self._submit((login, folder, uidvalidity, uids, department))

    def offer(self, department: str, language: str, offer: Offer) -> None:
        """A FAQ index the daemon built: each worker gets it with its next batch, and
        matches that department's new mail in that language against it."""
        with self._lock:
            self._offers[(department, language)] = offer

    def fetched(self, future: Future[Any]
                ) -> tuple[list[int], list[bytes], list[Prepared]] | None:
        """The UIDs still there, their bytes and the prepared mails; None if the worker
        could not: the caller fetches and prepares them itself."""
        try:
            uids, raws, mails = future.result()
        except BatchFailed as e:  # the worker is well; its IMAP connection is not
            log.warning("a parse worker could not fetch (%s); fetching in the daemon", e)
            return None
        except Exception as e:
            self._failed(e)
            return None
        for prepared, raw in zip(mails, raws, strict=True):
            prepared.mail.raw = raw
        return uids, raws, mails

    def _submit(self, request: tuple[Any, ...]) -> Future[Any] | None:
        """To the worker owing the fewest batches; None when there is none."""
        if self.workers < 1:
            return None
        with self._lock:
            pool = self._pool_now()
            if pool is None:
                return None
            worker = min(pool, key=_Worker.owed)
            # The indexes it has not had: sent once, before the first batch that uses them.
            new = {k: o for k, o in self._offers.items() if worker.offered.get(k) != o.version}
            worker.offered.update((k, o.version) for k, o in new.items())
        try:
            return worker.submit((*request, new))
        except WorkerFailed as e:
            self._failed(e)
            return None

    def _failed(self, e: BaseException) -> None:
        with self._lock:
            if self._pool is None:
                return  # another thread noticed first
            log.warning("parse worker failed (%s: %s); parsing in the daemon's process for "
                        "%.0f s", type(e).__name__, e, self.RETRY_AFTER)
            self._retry_at = time.monotonic() + self.RETRY_AFTER
            self._shutdown(kill=True)

    def pids(self) -> list[int]:
        return [w.proc.pid for w in self._pool or []]

    def close(self) -> None:
        with self._lock:
            self._shutdown(kill=False)

    def _shutdown(self, kill: bool) -> None:
        for w in self._pool or []:
            w.stop(kill)
        self._pool = None


if __name__ == "__main__":
    worker_main()
