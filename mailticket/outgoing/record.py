"""Recording what one SMTP session sent, on a thread of its own, while it sends on.

The sender used to record every ten mails in its own transaction before it sent the
next ten.  On SQLite that transaction waits for the poller's, which holds the one
write lock for a whole batch: through a backlog the sender then sent 730 of 26,545
mails while 10,000 were stored, and the rest only after (docs/benchmarks.md).  Here
a recorder thread takes the sent mails as they come and records all of them in one
transaction whenever it gets the lock, renewing the session's claim on what is left
in the same transaction; the session goes on sending meanwhile, but never more than
``ahead`` mails beyond what was recorded.  That number is what a kill can have sent
and not recorded, so sent again (with their Message-IDs unchanged): one on
PostgreSQL, where other daemons take over a frozen one's claims, twenty on SQLite.
A mail is sent only while its claim was confirmed less than ``fresh_for`` seconds ago
(by the claim, or by a recorder round): a session frozen longer asks again first, and
sends nothing that another sender took meanwhile.
A round records at least ``every`` mails (one on PostgreSQL, ten on SQLite, where a
commit costs more than its statements), unless the session waits or ends.
Each round renews the next ``check`` mails' claims (the next one on PostgreSQL, as
before every mail there) and those of the next ``ahead`` that are half stale.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

Mark = tuple[Any, "str | None", "dict[str, str] | None"]  # item, refusal, refused rcpts
Finish = Callable[[list[Mark], Sequence[Any]], set[int]]


class Recorder:
    def __init__(self, finish: Finish, items: Sequence[Any], *, ahead: int, every: int,
                 check: int, fresh_for: float, confirmed: float) -> None:
        self._finish = finish  # records marks, renews items, returns those still ours
        self.ahead = ahead
        self.every = every  # sent mails a round waits for (or for the session's end)
        self.check = check
        self.fresh_for = fresh_for
        self._rest = list(items)  # claimed, not yet handed out for sending
        self._ours = {item.id for item in items}  # not found taken by another sender
        # time.monotonic() when each one's claim last held: the claim, then renewals
        self._since = dict.fromkeys(self._ours, confirmed)
        self._pending: list[Mark] = []  # sent, not yet recorded
        self._recording = 0  # marks in the transaction now running
        self._want = False  # the session waits for a round (a stale claim)
        self._closing = False
        self._error: BaseException | None = None
        self.lost = 0  # claimed mails another sender took meanwhile: not sent here
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="outbox-record", daemon=True)
        self._thread.start()

    def items(self) -> Iterator[Any]:
        """The claimed mails to send, each once its turn came: fewer than ``ahead`` sent
        mails unrecorded, and the claim confirmed less than ``fresh_for`` ago."""
        while True:
            with self._cond:
                while True:
                    if self._error is not None:
                        raise self._error
                    while self._rest and self._rest[0].id not in self._ours:
                        self._rest.pop(0)
                        self.lost += 1
                    if not self._rest:
                        return
                    fresh = time.monotonic() - self._since[self._rest[0].id] < self.fresh_for
                    if fresh and len(self._pending) + self._recording < self.ahead:
                        break
                    self._want = not fresh
                    self._cond.notify_all()
                    self._cond.wait()
                item = self._rest.pop(0)
            yield item

    def sent(self, mark: Mark) -> None:
        """What the server said of one mail handed to it (taken, refused for good)."""
        with self._cond:
            self._pending.append(mark)
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not (len(self._pending) >= self.every or self._want or self._closing):
                    self._cond.wait()
                if self._closing and not self._pending:
                    return
                marks, self._pending = self._pending, []
                self._recording, self._want = len(marks), False
                began = time.monotonic()
                keep = [item for i, item in enumerate(self._rest[:self.ahead])
                        if i < self.check or began - self._since[item.id] > self.fresh_for / 2]
            try:
                ours = self._finish(list(marks), keep)
            except BaseException as e:  # e.g. the database gone: the session stops
                with self._cond:
                    self._pending[:0] = marks  # for close() to try once more
                    self._recording = 0
                    self._error = e
                    self._cond.notify_all()
                return
            with self._cond:
                self._recording = 0
                for item in keep:
                    if item.id in ours:
                        self._since[item.id] = began
                    else:
                        self._ours.discard(item.id)
                self._cond.notify_all()

    def close(self) -> None:
        """Record what is left and stop; raises what recording it raised."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join()
        if self._pending:  # the recorder failed: once more, here
            marks, self._pending = self._pending, []
            self._finish(marks, ())
