"""Write turns: one process's threads take SQLite's write lock first come, first served.

SQLite lets one writer in at a time; a thread that finds the lock taken sleeps and
tries again (1, 2, 5 … 100 ms apart).  A thread that writes back to back, as the
poller does through a backlog, takes the lock again in the instant it let it go, so
the outbox's sender, retrying at those intervals, seldom got in: 730 of 26,545
mails went out while 10,000 were stored (docs/benchmarks.md).  Here the threads of
one process queue in order instead.  The lock itself stays SQLite's: a thread that
waited longer than the busy timeout goes ahead without its turn and waits on
SQLite as before, and other processes (a CLI run) only ever meet SQLite's lock.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager


class Turns:
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._mutex = threading.Lock()
        self._busy = False
        self._owner: int | None = None
        self._waiting: deque[threading.Event] = deque()

    def _acquire(self) -> bool:
        """True once this thread holds the turn; False when it waited in vain."""
        with self._mutex:
            if not self._busy:
                self._busy = True
                return True
            handed = threading.Event()
            self._waiting.append(handed)
        if handed.wait(self.timeout):
            return True
        with self._mutex:
            if handed.is_set():  # handed over as the wait ended
                return True
            self._waiting.remove(handed)
            return False

    def _release(self) -> None:
        with self._mutex:
            if self._waiting:
                self._waiting.popleft().set()  # the next one's: the turn stays taken
            else:
                self._busy = False

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Hold this process's write turn (a thread already holding it passes)."""
        me = threading.get_ident()
        if self._owner == me:
            yield
            return
        held = self._acquire()
        if held:
            self._owner = me
        try:
            yield
        finally:
            if held:
                self._owner = None
                self._release()
