"""The heap of a long-running process: given back to the system once a mail's (or a
batch's) bytes are dropped, and kept out of the garbage collector's way once started.

glibc keeps freed memory for reuse: after one big attachment, or one batch of a large
backlog, the daemon would stay at its peak for ever (docs/benchmarks.md, drain memory).
The listener trims after each big mail, the IMAP poller after each batch.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from functools import lru_cache

BIG_MAIL = 1024 * 1024  # bytes dropped below this are not worth a trim


@lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None  # glibc only
    except OSError:
        return None


def trim_heap(size: int) -> None:
    """After ``size`` bytes of mail are done with and dropped: hand the free heap back
    (a few milliseconds at most, once; nothing where the C library has no malloc_trim)."""
    libc = _libc() if size >= BIG_MAIL else None
    if libc is not None:
        libc.malloc_trim(0)


def settle() -> None:
    """Once a process has started: what it built to run (modules, classes, its
    configuration, the schema's tables) lives as long as it does, so it is kept out
    of every later collection.  An ingest batch leaves enough survivors to start a
    full collection every few batches, and each walked those 100,000 objects again:
    ~65 ms of the daemon's time each, 0.52 s in 6,000 mails (docs/benchmarks.md).  Collected
    first, so no garbage is kept for ever; an object it keeps is still freed when the
    last reference to it goes."""
    gc.collect()
    gc.freeze()
