"""Control characters out of text taken from mail: one-line header values, clean bodies.

Anything from a mail may end up in a header we send, a log line or a file name, so
every such string goes through these helpers (no CR/LF injection).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Control characters that act like whitespace become a space; every other
# Cc character (NUL, DEL, C1 controls, ...) is removed.
_SPACE_CTRL = "\t\n\r\v\f\x1c\x1d\x1e\x1f\x85\u2028\u2029"
_CTRL_TABLE: dict[int, int | None] = {
    c: None for c in [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]
}
_CTRL_TABLE.update({ord(c): 0x20 for c in _SPACE_CTRL})
# File names: every control character is simply dropped.
_DELETE_CTRL_TABLE: dict[int, int | None] = dict.fromkeys(_CTRL_TABLE)
# Bidirectional overrides/isolates: used to disguise "exe" file names.
_BIDI_TABLE: dict[int, int | None] = {
    c: None for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F]
}
FOLD_RE = re.compile(r"\r\n|\r|\n")


def clean(s: str) -> str:
    """Remove control characters (whitespace-like ones become spaces)."""
    if s.isprintable():
        return s
    return s.translate(_CTRL_TABLE)


def one_line(s: str) -> str:
    """Control characters removed and whitespace runs collapsed to one space."""
    return " ".join(clean(s).split())


_BODY_CTRL_RE = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x84\x86-\x9f]+")


def body_text_clean(s: str) -> str:
    """Body text: LF newlines only, no control chars other than TAB/LF."""
    if "\r" in s:
        s = s.replace("\r\n", "\n").replace("\r", "\n")
    if "\x0c" in s or "\x85" in s:  # form feed / NEL: keep as line breaks
        s = s.replace("\x0c", "\n").replace("\x85", "\n")
    return _BODY_CTRL_RE.sub("", s)


def dedupe(items: Iterable[str]) -> list[str]:
    """In first-seen order, each once."""
    return list(dict.fromkeys(items))


def clean_filename(name: str) -> str:
    """A file name that is safe to show, store or write: never a path.

    The basename only (after "/" or "\\"), without control characters or
    bidirectional overrides and isolates (U+202A-U+202E, U+2066-U+2069, which
    disguise "exe" names), whitespace collapsed, at most 255 characters; ""
    when nothing usable is left (".", "..", "/").
    """
    name = name.translate(_DELETE_CTRL_TABLE).translate(_BIDI_TABLE)
    name = " ".join(name.replace("\\", "/").rsplit("/", 1)[-1].split())
    if name in (".", ".."):
        return ""
    return name[:255]
