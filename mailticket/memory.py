"""Giving the heap back to the system once a mail's (or a batch's) bytes are dropped.

glibc keeps freed memory for reuse: after one big attachment, or one batch of a large
backlog, the daemon would stay at its peak for ever (docs/benchmarks.md, drain memory).
The listener trims after each big mail, the IMAP poller after each batch.
"""

from __future__ import annotations

import ctypes
import ctypes.util
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
