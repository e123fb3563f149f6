"""Turn raw RFC 5322 bytes into a :class:`ParsedMail` without ever raising.

Mail arrives from anyone, so this layer is deliberately lenient: the stdlib
``compat32`` parser (fast, tolerant) does the MIME splitting, and every header
and body is decoded here with explicit fallbacks.  Whatever is odd about a mail
is written to ``ParsedMail.defects`` for the logs instead of becoming an
exception.  All text that could end up in a header we send, a log line or a
file name is stripped of control characters (no CR/LF injection through
RFC 2047 encoded words).
"""

from __future__ import annotations

import binascii
import codecs
import hashlib
import html as html_mod
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes
from email._policybase import Compat32
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime
from functools import lru_cache
from typing import TypeVar

from inscriptis import get_text

__all__ = [
    "Address",
    "Attachment",
    "ParsedMail",
    "decode_bytes",
    "decode_header_value",
    "extract_ids",
    "parse",
]

_T = TypeVar("_T")

#: Parts nested deeper than this are not walked (mail bombs, recursion limits).
MAX_DEPTH = 40
#: HTML larger than this is truncated before conversion to text (inscriptis is
#: the slowest step of parsing; a 50 MB HTML body must not stall the daemon).
MAX_HTML_CHARS = 1_000_000
#: Message-IDs longer than this are treated as garbage.
MAX_ID_LEN = 500
#: At most this many defect notes are kept per mail.
MAX_DEFECTS = 50


# ---------------------------------------------------------------------------
# Small text helpers
# ---------------------------------------------------------------------------

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
_FOLD_RE = re.compile(r"\r\n|\r|\n")


def _clean(s: str) -> str:
    """Remove control characters (whitespace-like ones become spaces)."""
    if s.isprintable():
        return s
    return s.translate(_CTRL_TABLE)


def _one_line(s: str) -> str:
    """Control characters removed and whitespace runs collapsed to one space."""
    return " ".join(_clean(s).split())


_BODY_CTRL_RE = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x84\x86-\x9f]+")


def _body_text_clean(s: str) -> str:
    """Body text: LF newlines only, no control chars other than TAB/LF."""
    if "\r" in s:
        s = s.replace("\r\n", "\n").replace("\r", "\n")
    if "\x0c" in s or "\x85" in s:  # form feed / NEL: keep as line breaks
        s = s.replace("\x0c", "\n").replace("\x85", "\n")
    return _BODY_CTRL_RE.sub("", s)


# ---------------------------------------------------------------------------
# Charsets
# ---------------------------------------------------------------------------

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


def _fix8bit(value: str) -> str:
    """Recover raw 8-bit header bytes (surrogate-escaped by the parser) as text."""
    if value.isascii():
        return value
    try:
        raw = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # lone surrogates that were not escapes
        return value.encode("utf-8", "replace").decode("utf-8")
    return decode_bytes(raw)[0]


# ---------------------------------------------------------------------------
# RFC 2047 encoded words (our own lenient decoder)
# ---------------------------------------------------------------------------

# Lenient: encoded text may contain spaces (seen from broken encoders), the
# charset may carry an RFC 2231 language suffix ("utf-8*en").
_EW_RE = re.compile(r"=\?([^?\s*]{1,40})(?:\*[^?]*)?\?([qQbB])\?([^?]*?)\?=")
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
        for cs, data in merged:
            text, note = decode_bytes(bytes(data), cs)
            if note and notes is not None and len(notes) < 1000:
                notes.append(f"encoded word: {note}")
            out.append(text)
        pending.clear()

    for m in _EW_RE.finditer(value):
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


# ---------------------------------------------------------------------------
# Public data types
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Address:
    """One mailbox from an address header."""

    name: str
    addr: str

    @property
    def key(self) -> str:
        """Lowercased address, the form used for every comparison."""
        return self.addr.lower()

    def __str__(self) -> str:
        return f"{self.name} <{self.addr}>" if self.name else self.addr


@dataclass(frozen=True)
class Attachment:
    """A part that is not the body text: file, inline image, attached mail, report."""

    filename: str
    content_type: str
    size: int
    content_id: str | None
    inline: bool


@dataclass
class ParsedMail:
    """Everything the pipeline needs from one raw mail; see :func:`parse`."""

    raw: bytes
    message_id: str
    synthetic_id: bool
    in_reply_to: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    from_: Address | None = None
    sender: Address | None = None
    reply_to: list[Address] = field(default_factory=list)
    to: list[Address] = field(default_factory=list)
    cc: list[Address] = field(default_factory=list)
    delivered_to: list[str] = field(default_factory=list)
    return_path: str | None = None
    subject: str = ""
    date: datetime | None = None
    content_language: str | None = None
    headers: dict[str, list[str]] = field(default_factory=dict)
    text: str = ""
    html: str | None = None
    attachments: list[Attachment] = field(default_factory=list)
    content_type: str = "text/plain"
    defects: list[str] = field(default_factory=list)
    #: Message-IDs of the mail a bounce/auto-reply is about, found in attached
    #: message/rfc822 or text/rfc822-headers parts, else in "Message-ID:" lines
    #: of the body.  Only meaningful for machine mail (anyone can write such a
    #: line); lets a bounce be attached to the ticket it concerns.
    original_message_ids: list[str] = field(default_factory=list)
    #: Lowercased recipients a delivery-status report marks as failed.
    bounced_recipients: list[str] = field(default_factory=list)

    def all_recipients(self) -> list[Address]:
        """To and Cc recipients, in header order."""
        return [*self.to, *self.cc]

    def header(self, name: str) -> str | None:
        """First decoded value of header ``name`` (case-insensitive), or None."""
        values = self.headers.get(name.lower())
        return values[0] if values else None


# ---------------------------------------------------------------------------
# Parser policy
# ---------------------------------------------------------------------------


class _LenientPolicy(Compat32):
    """compat32, but header values come back as plain text, never ``Header``.

    compat32 wraps values with raw 8-bit bytes in ``Header`` objects, which
    breaks parameter parsing (file names) in odd ways; decoding the bytes as
    UTF-8 (else cp1252) up front is what every mail client does.
    """

    def header_fetch_parse(self, name: str, value: str) -> str:  # type: ignore[override]
        return _fix8bit(value)


_POLICY = _LenientPolicy()


# ---------------------------------------------------------------------------
# Message-IDs
# ---------------------------------------------------------------------------

_BRACKET_ID_RE = re.compile(r"<\s*([^<>\s]+?)\s*>")
_BARE_ID_RE = re.compile(r"^[^\s<>@\"(),;]+@[^\s<>@\"(),;]+$")


def extract_ids(value: str) -> list[str]:
    """All Message-IDs in ``value`` as ``<id>`` strings, in order, deduplicated.

    ``"<a@b> <c@d>"`` gives ``["<a@b>", "<c@d>"]``.  Bare ``a@b`` tokens are
    accepted only when the value has no angle brackets at all (old clients).
    """
    if not value:
        return []
    value = _clean(value)
    found: list[str] = []
    if "<" in value:
        candidates: Iterable[str] = (m.group(1) for m in _BRACKET_ID_RE.finditer(value))
    else:
        candidates = (t for t in re.split(r"[\s,]+", value) if _BARE_ID_RE.match(t))
    seen: set[str] = set()
    for c in candidates:
        if len(c) > MAX_ID_LEN:
            continue
        ident = f"<{c}>"
        if ident not in seen:
            seen.add(ident)
            found.append(ident)
    return found


def _synthetic_id(raw: bytes) -> str:
    return f"<{hashlib.sha256(raw).hexdigest()[:32]}@mailticket.invalid>"


# ---------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------


class _Ctx:
    """Accumulates defects while one mail is parsed."""

    __slots__ = ("defects",)

    def __init__(self) -> None:
        self.defects: list[str] = []

    def note(self, text: str) -> None:
        if len(self.defects) < 4 * MAX_DEFECTS:
            self.defects.append(_one_line(text)[:300])

    def safe(self, what: str, fn: Callable[[], _T], default: _T) -> _T:
        """Run ``fn``; on any exception note it and return ``default``."""
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - parse() must never raise
            self.note(f"{what}: {type(exc).__name__}: {exc}")
            return default


def _header_values(msg: Message) -> dict[str, list[str]]:
    """Raw (8-bit fixed, unfolded, not RFC 2047 decoded) values by lowercase name."""
    out: dict[str, list[str]] = {}
    for name, value in msg.raw_items():
        key = _one_line(_fix8bit(str(name))).lower()
        if not key:
            continue
        v = _FOLD_RE.sub("", _fix8bit(str(value)))
        out.setdefault(key, []).append(v)
    return out


_PLACEHOLDER_RE = re.compile("\ue000(\\d+)\ue001")


def _parse_addresses(values: list[str], ctx: _Ctx) -> list[Address]:
    """Split address headers into :class:`Address` objects.

    Encoded words are hidden behind placeholders while the address list is
    split and decoded afterwards: a display name like
    ``=?utf-8?q?Doe,_J_<x@y>?=`` must stay a name, never become an address.
    """
    out: list[Address] = []
    for value in values:
        words: list[str] = []

        def hide(m: re.Match[str], words: list[str] = words) -> str:
            words.append(m.group(0))
            return f"\ue000{len(words) - 1}\ue001"

        def unhide(text: str, words: list[str] = words) -> str:
            return _PLACEHOLDER_RE.sub(lambda m: words[int(m.group(1))], text)

        masked = _EW_RE.sub(hide, value) if "=?" in value else value
        try:
            pairs = getaddresses([masked])
        except Exception as exc:  # noqa: BLE001
            ctx.note(f"unparseable address header {value[:80]!r}: {exc}")
            continue
        for name, addr in pairs:
            addr = "".join(_clean(unhide(addr)).split())
            if not addr:
                continue
            name = _one_line(decode_header_value(unhide(name), ctx.defects))
            out.append(Address(name, addr))
    return out


def _first_address(values: list[str] | None, ctx: _Ctx) -> Address | None:
    if not values:
        return None
    addrs = _parse_addresses(values[:1], ctx)
    return addrs[0] if addrs else None


def _parse_date(values: list[str] | None, ctx: _Ctx) -> datetime | None:
    if not values:
        return None
    value = values[0].strip()
    try:
        dt = parsedate_to_datetime(value)
    except Exception:  # noqa: BLE001 - TypeError/ValueError/OverflowError seen
        ctx.note(f"unparseable Date {value[:60]!r}")
        return None
    if dt is None:  # pragma: no cover - older Pythons
        return None
    if dt.tzinfo is None:  # "-0000": time is UTC, source zone unknown
        dt = dt.replace(tzinfo=UTC)
    return dt


def _parse_return_path(values: list[str] | None) -> str | None:
    if values is None:
        return None
    value = _clean(values[0]).strip()
    m = re.search(r"<([^<>]*)>", value)
    inner = m.group(1) if m else value
    return "".join(inner.split())


def _delivered_to(headers: dict[str, list[str]], ctx: _Ctx) -> list[str]:
    out: list[str] = []
    for key in ("delivered-to", "x-original-to", "envelope-to", "x-envelope-to"):
        for a in _parse_addresses(headers.get(key, []), ctx):
            k = a.key
            if k not in out:
                out.append(k)
    return out


def _clean_filename(name: str) -> str:
    """Basename only, no control or bidi-override characters, never "." or ".."."""
    name = name.translate(_DELETE_CTRL_TABLE).translate(_BIDI_TABLE)
    name = " ".join(name.replace("\\", "/").rsplit("/", 1)[-1].split())
    if name in (".", ".."):
        return ""
    return name[:255]


def _filename(part: Message, ctx: _Ctx) -> str:
    raw = ctx.safe("filename", part.get_filename, None)
    if not raw:
        return ""
    return _clean_filename(decode_header_value(str(raw), ctx.defects))


def _disposition(part: Message) -> str:
    value = part.get("content-disposition")
    if not value:
        return ""
    return str(value).split(";", 1)[0].strip().lower()


def _content_id(part: Message) -> str | None:
    value = part.get("content-id")
    if not value:
        return None
    value = "".join(_clean(str(value)).split())
    if not value:
        return None
    if not value.startswith("<"):
        value = f"<{value}>"
    return value[: MAX_ID_LEN + 2]


def _part_payload(part: Message, ctx: _Ctx, where: str) -> bytes:
    """Transfer-decoded payload of a leaf part (never None)."""
    try:
        data = part.get_payload(decode=True)
    except Exception as exc:  # noqa: BLE001 - e.g. uu errors
        ctx.note(f"part {where}: undecodable payload ({type(exc).__name__})")
        raw = part.get_payload()
        return raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""
    if isinstance(data, bytes):
        return data
    return b""


def _serialized_size(payload: list[Message], depth: int = 0) -> int:
    """Approximate size of attached messages (message/rfc822, delivery-status …).

    Counted from the parsed pieces rather than re-generated: the stdlib
    generator re-folds every header and costs more than parsing the mail.
    """
    size = 0
    for sub in payload:
        if not isinstance(sub, Message) or depth > MAX_DEPTH:
            continue
        size += sum(len(k) + len(v) + 3 for k, v in sub.raw_items()) + 2
        body = sub.get_payload()
        if isinstance(body, list):
            size += _serialized_size(body, depth + 1)
        elif isinstance(body, str):
            size += len(body)
    return size


_HTML_META_CHARSET_RE = re.compile(
    rb"<meta[^>]{0,200}?charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:-]{1,40})"
)


class _Walker:
    """Walks the MIME tree once, sorting leaves into body text and attachments."""

    def __init__(self, ctx: _Ctx) -> None:
        self.ctx = ctx
        self.attachments: list[Attachment] = []
        self.embedded: list[Message] = []  # attached messages/headers, for original ids
        self.dsn_parts: list[Message] = []
        self.text_part: Message | None = None

    def walk(self, part: Message, where: str, depth: int) -> tuple[list[str], list[str]]:
        """Return (plain texts, htmls) of the body below ``part``."""
        if depth > MAX_DEPTH:
            self.ctx.note(f"part {where}: nested deeper than {MAX_DEPTH}, ignored")
            return [], []
        for d in getattr(part, "defects", ()):
            self.ctx.note(f"part {where}: {type(d).__name__}")
        ctype = self.ctx.safe("content type", part.get_content_type, "text/plain")
        payload = part.get_payload()
        if isinstance(payload, list):
            if ctype.startswith("multipart/"):
                return self._multipart(part, ctype, payload, where, depth)
            self._attach_message(part, ctype, payload, where)
            return [], []
        if ctype.startswith("multipart/"):
            # Broken boundary: the parser could not split it; read it as text.
            ctype = "text/plain"
        disposition = _disposition(part)
        filename = _filename(part, self.ctx)
        if ctype in ("text/plain", "text/html") and disposition != "attachment" and not filename:
            data = _part_payload(part, self.ctx, where)
            text = self._decode_text(part, data, ctype, where)
            if ctype == "text/plain":
                if self.text_part is None:
                    self.text_part = part
                return [text], []
            return [], [text]
        if ctype == "text/rfc822-headers":
            self.embedded.append(part)
        data = _part_payload(part, self.ctx, where)
        self.attachments.append(
            Attachment(
                filename=filename,
                content_type=ctype,
                size=len(data),
                content_id=_content_id(part),
                inline=disposition == "inline"
                or (not disposition and part.get("content-id") is not None),
            )
        )
        return [], []

    def _multipart(
        self, part: Message, ctype: str, children: list[Message], where: str, depth: int
    ) -> tuple[list[str], list[str]]:
        plains: list[str] = []
        htmls: list[str] = []
        if ctype == "multipart/alternative":
            # One body in several forms: keep the first form that has plain
            # text and the last that has HTML (the richest, per RFC 2046).
            for i, child in enumerate(children, 1):
                if not isinstance(child, Message):
                    continue
                p, h = self.walk(child, f"{where}.{i}", depth + 1)
                if p and not plains:
                    plains = p
                if h:
                    htmls = h
            return plains, htmls
        for i, child in enumerate(children, 1):
            if not isinstance(child, Message):
                continue
            p, h = self.walk(child, f"{where}.{i}", depth + 1)
            plains.extend(p)
            htmls.extend(h)
        return plains, htmls

    def _attach_message(self, part: Message, ctype: str, payload: list, where: str) -> None:
        if ctype == "message/delivery-status":
            self.dsn_parts.append(part)
        else:
            self.embedded.extend(p for p in payload if isinstance(p, Message))
        self.attachments.append(
            Attachment(
                filename=_filename(part, self.ctx),
                content_type=ctype,
                size=_serialized_size(payload),
                content_id=_content_id(part),
                inline=_disposition(part) == "inline",
            )
        )

    def _decode_text(self, part: Message, data: bytes, ctype: str, where: str) -> str:
        charset = self.ctx.safe("charset", part.get_content_charset, None)
        if not charset and ctype == "text/html":
            m = _HTML_META_CHARSET_RE.search(data[:4096])
            if m:
                charset = m.group(1).decode("ascii")
        text, note = decode_bytes(data, charset)
        if note:
            self.ctx.note(f"part {where}: {note}")
        return _body_text_clean(text.lstrip("\ufeff"))


_TAG_RE = re.compile(r"<[^>]*>")


def html_to_text(html: str) -> str:
    """Readable text from HTML via inscriptis; a crude tag stripper if it fails."""
    html = html[:MAX_HTML_CHARS]
    try:
        return get_text(html)
    except Exception:  # noqa: BLE001 - lxml rejects some inputs
        return html_mod.unescape(_TAG_RE.sub(" ", html))


def _dsn_recipients(parts: list[Message]) -> list[str]:
    out: list[str] = []
    for part in parts:
        blocks = part.get_payload()
        if not isinstance(blocks, list):
            continue
        for block in blocks[1:]:  # block 0 is the per-message block
            if not isinstance(block, Message):
                continue
            action = str(block.get("action", "failed")).strip().lower()
            if not action.startswith("failed"):
                continue
            rcpt = block.get("original-recipient") or block.get("final-recipient")
            if not rcpt:
                continue
            addr = "".join(_clean(str(rcpt).rsplit(";", 1)[-1]).split()).strip("<>").lower()
            if addr and addr not in out:
                out.append(addr)
    return out


_BODY_MSGID_RE = re.compile(r"(?im)^[ >]*message-id:[ \t]*(<[^<>\s]+>)")


def _original_ids(embedded: list[Message], text: str, ctx: _Ctx) -> list[str]:
    out: list[str] = []
    for sub in embedded:
        values: list[str] = []
        if sub.get_content_type() == "text/rfc822-headers":
            data = _part_payload(sub, ctx, "rfc822-headers")
            for line in _FOLD_RE.sub("\n", data.decode("latin-1")).split("\n"):
                if line[:11].lower() == "message-id:":
                    values.append(line[11:])
        else:
            values = [str(v) for v in sub.get_all("message-id", [])]
        for v in values:
            for ident in extract_ids(v):
                if ident not in out:
                    out.append(ident)
    if not out and text:
        for m in _BODY_MSGID_RE.finditer(text[:200_000]):
            ident = m.group(1)
            if len(ident) <= MAX_ID_LEN and ident not in out:
                out.append(ident)
    return out


def _parse(raw: bytes, ctx: _Ctx) -> ParsedMail:
    msg = message_from_bytes(raw, policy=_POLICY)
    hv = ctx.safe("headers", lambda: _header_values(msg), {})

    headers = {
        k: [_one_line(decode_header_value(v, ctx.defects)) for v in vs] for k, vs in hv.items()
    }

    ids = extract_ids(hv["message-id"][0]) if hv.get("message-id") else []
    if ids:
        message_id, synthetic = ids[0], False
    else:
        message_id, synthetic = _synthetic_id(raw), True
        ctx.note("missing or unusable Message-ID; synthetic id used")

    walker = _Walker(ctx)
    plains, htmls = ctx.safe("body", lambda: walker.walk(msg, "1", 0), ([], []))
    text = "\n".join(p for p in plains if p.strip())
    html = "\n".join(htmls) if htmls else None
    if not text.strip() and html:
        if len(html) > MAX_HTML_CHARS:
            ctx.note(f"HTML body over {MAX_HTML_CHARS} characters: text cut short")
        text = _body_text_clean(ctx.safe("html conversion", lambda: html_to_text(html), ""))

    content_language = None
    sources = [hv.get("content-language")]
    if walker.text_part is not None:
        sources.append(walker.text_part.get_all("content-language"))
    for source in sources:
        tag = _one_line(str(source[0])).split(",")[0].strip() if source else ""
        if tag:
            content_language = tag
            break

    mail = ParsedMail(
        raw=raw,
        message_id=message_id,
        synthetic_id=synthetic,
        in_reply_to=[i for v in hv.get("in-reply-to", []) for i in extract_ids(v)],
        references=_dedupe(i for v in hv.get("references", []) for i in extract_ids(v)),
        from_=_first_address(hv.get("from"), ctx),
        sender=_first_address(hv.get("sender"), ctx),
        reply_to=_parse_addresses(hv.get("reply-to", []), ctx),
        to=_parse_addresses(hv.get("to", []), ctx),
        cc=_parse_addresses(hv.get("cc", []), ctx),
        delivered_to=_delivered_to(hv, ctx),
        return_path=_parse_return_path(hv.get("return-path")),
        subject=headers["subject"][0] if headers.get("subject") else "",
        date=_parse_date(hv.get("date"), ctx),
        content_language=content_language,
        headers=headers,
        text=text,
        html=html,
        attachments=walker.attachments,
        content_type=ctx.safe("content type", msg.get_content_type, "text/plain"),
        defects=ctx.defects,
    )
    mail.in_reply_to = _dedupe(mail.in_reply_to)
    bounced = ctx.safe("delivery status", lambda: _dsn_recipients(walker.dsn_parts), [])
    if not bounced:  # Exim's plain-text bounces name them in a header
        failed = _parse_addresses(hv.get("x-failed-recipients", []), ctx)
        bounced = _dedupe(a.key for a in failed)
    mail.bounced_recipients = bounced
    mail.original_message_ids = ctx.safe(
        "original ids", lambda: _original_ids(walker.embedded, text, ctx), []
    )
    return mail


def _dedupe(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def parse(raw: bytes) -> ParsedMail:
    """Parse one raw mail.  Never raises, whatever the bytes.

    Anything that cannot be parsed leaves its field at a safe default and a
    note in ``defects``.  If the MIME structure defeats the parser (say,
    thousands of nested parts), the headers are parsed on their own and the
    body is kept as leniently decoded text, so the mail still has a sender and
    a subject; a stable synthetic Message-ID stands in when it has none.
    """
    if not isinstance(raw, bytes):
        try:
            raw = bytes(raw)
        except Exception:  # noqa: BLE001
            raw = str(raw).encode("utf-8", "surrogateescape")
    ctx = _Ctx()
    try:
        mail = _parse(raw, ctx)
    except Exception as exc:  # noqa: BLE001 - never take the daemon down
        ctx.note(f"unparseable mail: {type(exc).__name__}: {exc}")
    else:
        mail.defects = _tidy_defects(ctx.defects)
        return mail
    head, body = _split_head(raw)
    body_text = _body_text_clean(decode_bytes(body[:MAX_HTML_CHARS])[0])
    try:
        mail = _parse(head + b"\n\n", ctx)
    except Exception as exc:  # noqa: BLE001
        ctx.note(f"unparseable headers: {type(exc).__name__}: {exc}")
        mail = ParsedMail(raw=raw, message_id=_synthetic_id(raw), synthetic_id=True)
        body_text = _body_text_clean(decode_bytes(raw[:MAX_HTML_CHARS])[0])
    mail.raw = raw
    if mail.synthetic_id:
        mail.message_id = _synthetic_id(raw)
    mail.text = body_text
    mail.html = None
    mail.attachments = []
    mail.defects = _tidy_defects(ctx.defects)
    return mail


def _tidy_defects(defects: list[str]) -> list[str]:
    """Deduplicated and bounded: a hostile mail must not flood the logs."""
    unique = _dedupe(defects)
    if len(unique) > MAX_DEFECTS:
        unique = [*unique[:MAX_DEFECTS], f"… and {len(unique) - MAX_DEFECTS} more"]
    return unique


def _split_head(raw: bytes) -> tuple[bytes, bytes]:
    """Split at the first empty line (CRLF or LF)."""
    m = re.search(rb"\r?\n\r?\n", raw)
    if m is None:
        return raw, b""
    return raw[: m.start()], raw[m.end() :]
