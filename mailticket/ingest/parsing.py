"""Parsing a backlog in worker processes, so the one writer never waits for it.

Parsing and guessing the language are pure and cost about a quarter of a mail; a worker
does them for the next mails while the daemon stores the previous ones.  Only backlogs
go to the workers (a worker takes a second to start); a worker that dies costs nothing
but time: its mails are parsed in the daemon's own process instead.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TYPE_CHECKING

from mailticket.mail.classify import classify
from mailticket.mail.compose import LOOP_HEADER
from mailticket.mail.language import LanguageDetector
from mailticket.mail.parse import ParsedMail, fingerprint, parse

if TYPE_CHECKING:
    from mailticket.config import LanguageConfig

log = logging.getLogger("mailticket.ingest")

_detector: LanguageDetector | None = None
_min_confidence = 0.5
_own: frozenset[str] = frozenset()


def _exit_with_parent(daemon: int) -> None:
    """A daemon killed outright (SIGKILL) cannot stop its workers; they notice instead:
    the daemon is gone, or the fork server between them is (it exits with the daemon)."""
    server = os.getppid()
    while os.getppid() == server:
        try:
            os.kill(daemon, 0)  # signal 0: only asks whether the process exists
        except ProcessLookupError:
            break
        time.sleep(1.0)
    os._exit(0)


def _start_worker(parent: int, languages: list[str], low_memory: bool,
                  min_confidence: float, own: list[str]) -> None:
    global _detector, _min_confidence, _own
    # The daemon's pid is passed in: it may have died while this worker was starting.
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    _detector = LanguageDetector(frozenset(languages), low_memory=low_memory)
    _detector.warm_up()
    _min_confidence = min_confidence
    _own = frozenset(own)


def parse_all(raws: Sequence[bytes]) -> list[ParsedMail]:
    """In a worker: parse, and find what needs no database: the fingerprint, the
    classifier's verdict, the language the text and headers name."""
    out = []
    for raw in raws:
        mail = parse(raw)
        mail.fingerprint = fingerprint(mail)
        mail.verdict = classify(mail, _own, LOOP_HEADER)
        if _detector is not None:
            mail.language_guess = _detector.guess(
                mail.text, mail.header("Content-Language") or mail.content_language,
                _min_confidence) or ("", "")
        mail.raw = b""  # the caller holds the bytes: not sent back
        out.append(mail)
    return out


class ParsePool:
    """The daemon's parse workers.  Safe to use from several threads (the pollers' fetch
    threads submit, their writers collect); a pool that breaks is shut down and, for a
    minute, mails are parsed in the daemon's own process, then a new worker is tried."""

    RETRY_AFTER = 60.0  # seconds without workers after one failed

    def __init__(self, workers: int, languages: LanguageConfig, own: frozenset[str]) -> None:
        self.workers = workers
        self.languages = languages
        self.own = own
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._started: Future[list[ParsedMail]] | None = None
        self._retry_at = 0.0

    def _pool_now(self) -> ProcessPoolExecutor | None:
        """The running pool, started if need be; None while workers are off or backing off.
        Called with the lock held."""
        if self._pool is None and time.monotonic() >= self._retry_at:
            # Not "fork": the daemon runs threads, and forking a threaded process is
            # unsafe.  The fork server starts clean, loads this module (parser, language
            # detector) and not the daemon's main module, and forks the workers.
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload([__name__])  # this module, not __main__
            self._pool = ProcessPoolExecutor(
                self.workers, mp_context=context,
                initializer=_start_worker,
                initargs=(os.getpid(), sorted(self.languages.supported), self.languages.low_memory,
                          self.languages.min_confidence, sorted(self.own)))
            self._started = self._pool.submit(parse_all, [])
        return self._pool

    def ready(self) -> bool:
        """Whether a worker is up; if not, one is started and this says False until it is.

        A worker takes most of a second to start (the language models): the mails
        fetched meanwhile are better parsed here than waited for.
        """
        if self.workers < 1:
            return False
        with self._lock:
            if self._pool_now() is None:
                return False
            started = self._started
        assert started is not None
        if not started.done():
            return False
        failure = started.exception()
        if failure is not None:
            self._failed(failure)
            return False
        return True

    def submit(self, raws: Sequence[bytes]) -> Future[list[ParsedMail]] | None:
        """Parse these in a worker; None when there is none (parse in-process)."""
        if self.workers < 1:
            return None
        with self._lock:
            pool = self._pool_now()
            if pool is None:
                return None
            try:
                return pool.submit(parse_all, list(raws))
            except RuntimeError as e:  # BrokenProcessPool, or shut down meanwhile
                failure: Exception = e
        self._failed(failure)
        return None

    def result(self, future: Future[list[ParsedMail]] | None,
               raws: Sequence[bytes]) -> list[ParsedMail] | None:
        """The parsed mails, with their bytes back; None if the worker failed."""
        if future is None:
            return None
        try:
            mails = future.result()
        except Exception as e:  # a worker died (OOM killer …): parse here instead
            self._failed(e)
            return None
        for mail, raw in zip(mails, raws, strict=True):
            mail.raw = raw
        return mails

    def _failed(self, e: BaseException) -> None:
        with self._lock:
            if self._pool is None:
                return  # another thread noticed first
            log.warning("parse worker failed (%s: %s); parsing in the daemon's process for "
                        "%.0f s", type(e).__name__, e, self.RETRY_AFTER)
            self._retry_at = time.monotonic() + self.RETRY_AFTER
            self._shutdown()

    def pids(self) -> list[int]:
        return list(self._pool._processes) if self._pool else []  # noqa: SLF001

    def close(self) -> None:
        with self._lock:
            self._shutdown()

    def _shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._started = None
