"""The notes a parse leaves about whatever is odd in a mail, bounded for the logs.

parse() never raises: each step that could fail runs under :meth:`Defects.safe`
and leaves a note instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from mailticket.incoming.text import dedupe, one_line

_T = TypeVar("_T")


#: At most this many defect notes are kept per mail.
MAX_DEFECTS = 50


class Defects:
    """Accumulates defects while one mail is parsed."""

    __slots__ = ("defects",)

    def __init__(self) -> None:
        self.defects: list[str] = []

    def note(self, text: str) -> None:
        if len(self.defects) < 4 * MAX_DEFECTS:
            self.defects.append(one_line(text)[:300])

    def safe(self, what: str, fn: Callable[[], _T], default: _T) -> _T:
        """Run ``fn``; on any exception note it and return ``default``."""
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - parse() must never raise
            self.note(f"{what}: {type(exc).__name__}: {exc}")
            return default


def tidy(defects: list[str]) -> list[str]:
    """Deduplicated and bounded: a hostile mail must not flood the logs."""
    unique = dedupe(defects)
    if len(unique) > MAX_DEFECTS:
        unique = [*unique[:MAX_DEFECTS], f"… and {len(unique) - MAX_DEFECTS} more"]
    return unique
