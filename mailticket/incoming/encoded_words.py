"""RFC 2047 encoded words ("=?utf-8?q?...?="), decoded leniently.

Our own decoder rather than the stdlib's: it joins a character split across two
words, accepts what broken encoders write, and never raises.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable

from mailticket.incoming.charsets import decode_bytes

# Lenient: encoded text may contain spaces (seen from broken encoders), the
# charset may carry an RFC 2231 language suffix ("utf-8*en").
ENCODED_WORD_RE = re.compile(r"=\?([^?\s*]{1,40})(?:\*[^?]*)?\?([qQbB])\?([^?]*?)\?=")
_QP_HEX_RE = re.compile(rb"=([0-9A-Fa-f]{2})")
_B64_JUNK_RE = re.compile(rb"[^A-Za-z0-9+/]")


def _decode_q(text: str) -> bytes:
    raw = text.replace("_", " ").encode("utf-8", "surrogateescape")
    return _QP_HEX_RE.sub(lambda m: bytes([int(m.group(1), 16)]), raw)


def _decode_b(text: str) -> bytes | None:
    raw = _B64_JUNK_RE.sub(b"", text.encode("ascii", "ignore"))
    if len(raw) % 4 == 1:  # cannot be valid: drop the dangling character
        raw = raw[:-1]
    raw += b"=" * (-len(raw) % 4)
    try:
        return binascii.a2b_base64(raw)
    except (binascii.Error, ValueError):
        return None


def decode_header_value(value: str, notes: list[str] | None = None) -> str:
    """Decode RFC 2047 encoded words anywhere in ``value``; never raises.

    Adjacent encoded words (only whitespace between them) are joined at the
    byte level before decoding, so a multi-byte character split across two
    words survives.  Undecodable words are left as written.  The result is not
    cleaned of control characters: callers do that for their field.
    """
    if "=?" not in value:
        return value
    out: list[str] = []
    pos = 0
    pending: list[tuple[str, bytes]] = []  # consecutive decoded words

    def flush() -> None:
        # Merge runs of the same charset, then decode each run.
        merged: list[tuple[str, bytearray]] = []
        for cs, data in pending:
            if merged and merged[-1][0] == cs:
                merged[-1][1].extend(data)
            else:
                merged.append((cs, bytearray(data)))
        for cs, chunk in merged:
            text, note = decode_bytes(bytes(chunk), cs)
            if note and notes is not None and len(notes) < 1000:
                notes.append(f"encoded word: {note}")
            out.append(text)
        pending.clear()

    for m in ENCODED_WORD_RE.finditer(value):
        gap = value[pos : m.start()]
        if pending and gap.strip():
            flush()
        if not pending or gap.strip():
            out.append(gap)
        charset, enc, text = m.group(1), m.group(2), m.group(3)
        data = _decode_q(text) if enc in "qQ" else _decode_b(text)
        if data is None:
            flush()
            out.append(m.group(0))
            if notes is not None and len(notes) < 1000:
                notes.append("undecodable base64 encoded word")
        else:
            pending.append((charset.lower(), data))
        pos = m.end()
    flush()
    out.append(value[pos:])
    return "".join(out)


_PLACEHOLDER_RE = re.compile("\ue000(\\d+)\ue001")


def mask_words(value: str) -> tuple[str, Callable[[str], str]]:
    """Hide encoded words behind placeholders; return the masked text and an unhider."""
    if "=?" not in value:
        return value, lambda text: text
    words: list[str] = []

    def hide(m: re.Match[str]) -> str:
        words.append(m.group(0))
        return f"\ue000{len(words) - 1}\ue001"

    def unhide(text: str) -> str:
        return _PLACEHOLDER_RE.sub(lambda m: words[int(m.group(1))], text)

    return ENCODED_WORD_RE.sub(hide, value), unhide
