"""Bytes to text by the charset a mail declares, with the fallbacks mail needs.

Declared charsets are often wrong ("ISO-8859-1" holding UTF-8) or unknown, so
decoding never fails: it notes what it had to guess instead.
"""

from __future__ import annotations

import codecs
from functools import lru_cache

# Names seen in the wild that Python does not know, or where a superset is the
# better guess (what mail clients actually produce when they claim the subset).
_CHARSET_ALIASES = {
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "l1": "cp1252",
    "us-ascii": "",
    "ascii": "",
    "ansi_x3.4-1968": "",
    "unknown-8bit": "",
    "x-unknown": "",
    "unknown": "",
    "default": "",
    "charset": "",
    "x-user-defined": "",
    "8bit": "",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cn-gb": "gb18030",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "euc-kr": "cp949",
    "windows-874": "cp874",
    "iso-8859-8-i": "iso-8859-8",
    "iso-8859-6-i": "iso-8859-6",
    "shift-jis": "cp932",
    "shift_jis": "cp932",
    "x-sjis": "cp932",
    "sjis": "cp932",
    "ms932": "cp932",
    "windows-31j": "cp932",
    "x-mac-roman": "mac-roman",
    "macintosh": "mac-roman",
    "utf8mb4": "utf-8",
    "x-utf-8": "utf-8",
}
# Text codecs that are not charsets and would let a sender smuggle escapes.
_FORBIDDEN_CODECS = frozenset(
    {"unicode-escape", "raw-unicode-escape", "idna", "punycode", "undefined", "mbcs", "oem"}
)
_SINGLE_BYTE_PREFIXES = ("iso8859", "cp125", "cp874", "koi8", "mac-", "ascii", "cp437", "cp850")


@lru_cache(maxsize=256)
def _codec_for(charset: str | None) -> tuple[str, bool]:
    """Map a declared charset to ``(python codec name or "", single_byte)``.

    "" means "undeclared or unknown: guess".
    """
    if not charset:
        return "", False
    name = charset.strip().strip("\"'").lower()
    name = _CHARSET_ALIASES.get(name, name)
    if not name or len(name) > 40:
        return "", False
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError, TypeError):
        return "", False
    if not getattr(info, "_is_text_encoding", True) or info.name in _FORBIDDEN_CODECS:
        return "", False
    return info.name, info.name.startswith(_SINGLE_BYTE_PREFIXES)


def decode_bytes(data: bytes, charset: str | None = None) -> tuple[str, str | None]:
    """Decode ``data`` using the declared charset with sensible fallbacks.

    Returns ``(text, note)`` where ``note`` describes a fallback that was needed
    (for the defects list) or is None.  Never raises.

    Order: the declared charset (strict); if it is a single-byte charset but the
    bytes are valid UTF-8 with non-ASCII content, UTF-8 wins (the classic
    "declared ISO-8859-1, sent UTF-8" bug); then UTF-8, cp1252, and latin-1,
    which cannot fail.
    """
    if not data:
        return "", None
    if data.isascii():
        # Fast path; also right for every ASCII-compatible charset.  UTF-7 and
        # friends are ASCII bytes too, so only shortcut when they cannot apply.
        codec, _ = _codec_for(charset)
        if codec in ("", "utf-8", "ascii") or codec.startswith(_SINGLE_BYTE_PREFIXES):
            return data.decode("ascii"), None
    codec, single_byte = _codec_for(charset)
    note: str | None = None
    if codec:
        if single_byte and not data.isascii():
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                pass
            else:
                return text, f"declared charset {charset!r} but content is UTF-8"
        try:
            return data.decode(codec), None
        except (UnicodeDecodeError, LookupError, ValueError, TypeError):
            note = f"content does not match declared charset {charset!r}"
    elif charset and charset.strip().lower() not in _CHARSET_ALIASES:
        note = f"unknown charset {charset[:40]!r}"
    for fallback in ("utf-8", "cp1252"):
        try:
            return data.decode(fallback), note
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1"), note


def fix8bit(value: str) -> str:
    """Recover raw 8-bit header bytes (surrogate-escaped by the parser) as text."""
    if value.isascii():
        return value
    try:
        raw = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # lone surrogates that were not escapes
        return value.encode("utf-8", "replace").decode("utf-8")
    return decode_bytes(raw)[0]
