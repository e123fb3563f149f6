"""IMAP IDLE: one held connection per department that wakes the poller at once.

The poller stays the only code that fetches and stores; IDLE only says "look
now".  So a lost IDLE connection costs latency (the safety poll still runs),
never a mail.  IDLE is re-issued every ``idle_renew`` seconds, well before the
29 minutes after which servers may drop it (RFC 2177), and ``idle_check`` uses
short timeouts so a stop request is honoured within a second.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable

from imapclient import IMAPClient

from mailticket.config import ImapConfig
from mailticket.ingest.imap import connect

log = logging.getLogger("mailticket.ingest.idle")


class Idler(threading.Thread):
    def __init__(self, name: str, cfg: ImapConfig, on_new: Callable[[], None],
                 stop: threading.Event) -> None:
        super().__init__(name=f"idle:{name}", daemon=True)
        self.dept = name
        self.cfg = cfg
        self.on_new = on_new
        self.stop = stop
        self.supported: bool | None = None

    def run(self) -> None:
        delay, failing = 1.0, False
        while not self.stop.is_set():
            client: IMAPClient | None = None
            try:
                client = connect(self.cfg)
                if b"IDLE" not in client.capabilities():
                    self.supported = False
                    log.info("%s: server has no IDLE; polling every %ss", self.dept,
                             self.cfg.poll_interval)
                    return
                self.supported = True
                client.select_folder(self.cfg.folder, readonly=True)
                if failing:
                    log.warning("%s: IDLE connection back", self.dept)
                delay, failing = 1.0, False
                self.on_new()  # whatever arrived while we were not listening
                self._listen(client)
            except Exception as e:
                if not failing:
                    log.warning("%s: IDLE connection lost, retrying with back-off: %s: %s",
                                self.dept, type(e).__name__, e)
                failing = True
                self.stop.wait(delay * random.uniform(0.5, 1.0))
                delay = min(delay * 2, 120.0)
            finally:
                if client is not None:
                    try:
                        client.logout()
                    except Exception:
                        client.shutdown()

    def _listen(self, client: IMAPClient) -> None:
        client.idle()
        since = time.monotonic()
        at_once = 0  # idle_check calls in a row that came back early with nothing
        while not self.stop.is_set():
            asked = time.monotonic()
            responses = client.idle_check(timeout=1.0)
            if any(r and r[0] == b"BYE" for r in responses):
                raise ConnectionError("the server said BYE")
            # idle_check swallows the end of the stream and returns an empty list at
            # once, for ever: without this the thread would spin until the renewal.
            at_once = at_once + 1 if not responses and time.monotonic() - asked < 0.5 else 0
            if at_once >= 3:
                raise ConnectionError("the server closed the IDLE connection")
            if any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses):
                self.on_new()
            if time.monotonic() - since > self.cfg.idle_renew:
                client.idle_done()
                client.noop()
                client.idle()
                since = time.monotonic()
        with contextlib.suppress(Exception):  # stopping: the logout follows anyway
            client.idle_done()
