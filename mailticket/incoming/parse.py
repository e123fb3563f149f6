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

from mailticket.incoming import mime

__all__ = [
    "Address",
    "Attachment",
    "ParsedMail",
    "clean_filename",
    "decode_bytes",
    "decode_header_value",
    "extract_ids",
    "listed_recipients",
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
#: In-Reply-To keeps its first ids; References its first (the thread root) and its
#: last ones (the nearest parents).  A mail listing 70,000 ids must not become
#: 70,000 database parameters.
MAX_IN_REPLY_TO = 5
MAX_REFERENCES = 50
#: Message-IDs kept of the mails a bounce returns (see ParsedMail.original_message_ids).
MAX_ORIGINAL_IDS = 20
#: Longer display names are cut; longer addresses (RFC 5321 allows 254) dropped.
MAX_NAME_LEN = 300
MAX_ADDR_LEN = 320
#: Content-Language longer than this is not a tag we could store.
MAX_LANGUAGE_LEN = 16


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
    #: The decoded bytes of a leaf part sent as a file (Content-Disposition:
    #: attachment), so agents get it passed on without parsing the mail again.
    data: bytes | None = field(default=None, repr=False, compare=False)


@dataclass
class ParsedMail:
    """Everything the pipeline needs from one raw mail; see :func:`parse`."""

    raw: bytes
    message_id: str
    synthetic_id: bool
    in_reply_to: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    #: Who wrote it: the From header, else (see ``from_header``) a fall-back.
    from_: Address | None = None
    #: The header ``from_`` was taken from: "from", else the first of "sender",
    #: "reply-to", "return-path" with a usable address (a mail without a From still has
    #: somebody to answer); "" when none has one.
    from_header: str = "from"
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
    #: Lowercased recipients a bounce names as failed (not merely delayed): from its
    #: delivery-status report, X-Failed-Recipients, or, for mail that looks like
    #: a bounce, the wording of its human-readable notice.  Like
    #: ``original_message_ids``, only meaningful for machine mail.
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


def _mask_words(value: str) -> tuple[str, Callable[[str], str]]:
    """Hide encoded words behind placeholders; return the masked text and an unhider."""
    if "=?" not in value:
        return value, lambda text: text
    words: list[str] = []

    def hide(m: re.Match[str]) -> str:
        words.append(m.group(0))
        return f"\ue000{len(words) - 1}\ue001"

    def unhide(text: str) -> str:
        return _PLACEHOLDER_RE.sub(lambda m: words[int(m.group(1))], text)

    return _EW_RE.sub(hide, value), unhide


def _address(name: str, addr: str, ctx: _Ctx) -> Address | None:
    """One :class:`Address` from a raw (already unmasked) name and address, or None."""
    addr = "".join(_clean(addr).split())
    if not addr:
        return None
    if len(addr) > MAX_ADDR_LEN:
        ctx.note(f"address longer than {MAX_ADDR_LEN} characters dropped: {addr[:60]!r}…")
        return None
    name = _one_line(decode_header_value(name, ctx.defects))
    if len(name) > MAX_NAME_LEN:
        name = name[:MAX_NAME_LEN].rstrip()
    return Address(name, addr)


def _parse_addresses(values: list[str], ctx: _Ctx) -> list[Address]:
    """Split address headers into :class:`Address` objects.

    Encoded words are hidden behind placeholders while the address list is
    split and decoded afterwards: a display name like
    ``=?utf-8?q?Doe,_J_<x@y>?=`` must stay a name, never become an address.
    """
    out: list[Address] = []
    for value in values:
        masked, unhide = _mask_words(value)
        try:
            pairs = getaddresses([masked])
        except Exception as exc:  # noqa: BLE001
            ctx.note(f"unparseable address header {value[:80]!r}: {exc}")
            continue
        for name, addr in pairs:
            a = _address(unhide(name), unhide(addr), ctx)
            if a is not None:
                out.append(a)
    return out


# Quoted strings and the angle-bracketed addr-specs outside them.
_QUOTED_RE = re.compile(r'"(?:[^"\\]|\\.)*"?')
_ANGLE_ADDR_RE = re.compile(r"<([^<>@]*+@[^<>]*+)>")


def _first_address(values: list[str] | None, ctx: _Ctx) -> Address | None:
    """The one mailbox of From or Sender.

    When the header holds exactly one ``<addr-spec>`` (outside quoted strings
    and encoded words), that address wins, as in DMARC checks and in what mail
    clients display: ``Eve: x@evil.test <c@cust.test>`` is from c@cust.test,
    whatever ``getaddresses`` makes of the unquoted colon (a group) or of
    U+2028 and U+0085 in the display name.
    """
    if not values:
        return None
    value = values[0]
    masked, unhide = _mask_words(value)
    unquoted = _QUOTED_RE.sub(lambda m: " " * len(m.group(0)), masked)
    angles = _ANGLE_ADDR_RE.findall(unquoted)
    if len(angles) == 1:
        start = unquoted.index("<" + angles[0] + ">")
        name = masked[:start].strip()
        if len(name) >= 2 and name[0] == name[-1] == '"':
            name = re.sub(r"\\(.)", r"\1", name[1:-1])
        addr = masked[start + 1 : start + 1 + len(angles[0])]
        return _address(unhide(name), unhide(addr), ctx)
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
    try:
        dt.astimezone(UTC)  # the database keeps UTC
    except OverflowError:  # "31 Dec 9999 23:59 -1200" is past the last instant
        ctx.note(f"Date out of range {value[:60]!r}")
        return None
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


_CTYPE_RE = re.compile(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+")


def valid_content_type(ctype: str, default: str = "application/octet-stream") -> str:
    """``type/subtype`` as RFC 2045 allows it (lowercase), else ``default``."""
    ctype = ctype.strip().lower()
    return ctype if len(ctype) <= 255 and _CTYPE_RE.fullmatch(ctype) else default


def _filename(part: Message, ctx: _Ctx) -> str:
    raw = ctx.safe("filename", part.get_filename, None)
    if not raw:
        return ""
    return clean_filename(decode_header_value(str(raw), ctx.defects))


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
                content_type=valid_content_type(ctype),
                size=len(data),
                content_id=_content_id(part),
                inline=disposition == "inline"
                or (not disposition and part.get("content-id") is not None),
                data=data if disposition == "attachment" else None,
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
                content_type=valid_content_type(ctype),
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
    """Readable text from HTML via inscriptis; a crude tag stripper if it fails.

    Imported here, not above: with parse workers the daemon never converts HTML, and
    inscriptis with lxml weighs 5 MB."""
    from inscriptis import get_text

    html = html[:MAX_HTML_CHARS]
    try:
        return get_text(html)
    except Exception:  # noqa: BLE001 - lxml rejects some inputs
        return html_mod.unescape(_TAG_RE.sub(" ", html))


# ---------------------------------------------------------------------------
# Bounces: which recipients could not be reached
# ---------------------------------------------------------------------------
#
# Strongest evidence first: the machine-readable report (message/delivery-status,
# RFC 3464), also when it comes forwarded inside a message/rfc822; Exim's
# X-Failed-Recipients header; then, only for mail that looks like a bounce, the
# human-readable notice (everything before the returned message), read with
# patterns for the formats MTAs write (Postfix, qmail, Sendmail, Exim, Exchange,
# GroupWise, Yahoo, SMTP32 ...) and, failing those, every address in the notice
# that is clearly not someone else (the bounce's own sender and recipients,
# postmasters, the original's headers).  A delay warning names no failed
# address.

#: At most this many failed recipients are kept per bounce.
MAX_BOUNCED = 100
#: Only this much of a bounce's notice is read.
_NOTICE_CHARS = 20_000
_NOTICE_LINES = 400
_NOTICE_LINE_CHARS = 1000
#: An unknown format's notice is read only when it names at most this many addresses.
_MAX_GUESSED = 3

_FAILED_ACTIONS = ("failed", "failure", "error")  # RFC 3464 says "failed"; MTAs vary
_DSN_FIELD_RE = re.compile(r"([!-9;-~]+)[ \t]*:[ \t]*(.*)")
_RECIPIENT_FIELDS = ("original-recipient", "final-recipient")


def _dsn_text(part: Message, ctx: _Ctx) -> str:
    """The text of a message/delivery-status part, however the parser stored it."""
    payload = part.get_payload()
    if isinstance(payload, list):
        lines: list[str] = []
        for block in payload[:1000]:
            if isinstance(block, Message):
                lines.extend(
                    f"{_fix8bit(str(k))}: {_fix8bit(str(v))}" for k, v in block.raw_items()
                )
                lines.append("")
        return "\n".join(lines)
    return decode_bytes(_part_payload(part, ctx, "delivery-status")[:100_000])[0]


def _dsn_records(text: str) -> list[dict[str, str]]:
    """Field blocks of a delivery-status text, lowercase names.

    Blank and whitespace-only lines separate blocks (some MTAs write a space on
    the separating line, which RFC 5322 would read as a fold); a second
    Final-Recipient or Original-Recipient in one block starts a new one too.
    """
    records: list[dict[str, str]] = []
    cur: dict[str, str] = {}
    last: str | None = None
    for line in _FOLD_RE.split(text)[:5000]:
        if not line.strip():
            if cur:
                records.append(cur)
            cur, last = {}, None
        elif line[0] in " \t":
            if last is not None:
                cur[last] = f"{cur[last]} {line.strip()}"
        elif m := _DSN_FIELD_RE.match(line):
            name = m.group(1).lower()
            if name in _RECIPIENT_FIELDS and name in cur:
                records.append(cur)
                cur = {}
            last = None
            if name not in cur:
                cur[name], last = m.group(2).strip(), name
        else:
            last = None
    if cur:
        records.append(cur)
    return records


def _dsn_address(value: str | None) -> str | None:
    """``rfc822; <A@b>`` → ``a@b``; None unless it looks like an address."""
    if not value:
        return None
    addr = "".join(_clean(value.rsplit(";", 1)[-1]).split()).strip("<>").lower()
    if "@" not in addr or len(addr) > MAX_ADDR_LEN:
        return None
    return addr


def _dsn_recipients(parts: list[Message], ctx: _Ctx) -> tuple[list[str], bool]:
    """(failed recipients, whether the reports had any per-recipient block)."""
    out: list[str] = []
    reported = False
    for part in parts:
        for rec in _dsn_records(_dsn_text(part, ctx)):
            addr = _dsn_address(rec.get("original-recipient")) or _dsn_address(
                rec.get("final-recipient")
            )
            if addr is None:
                continue
            reported = True
            action = rec.get("action", "failed").strip().lower()
            if action.startswith(_FAILED_ACTIONS) and addr not in out:
                out.append(addr)
    return out, reported


def _nested_dsn_parts(embedded: list[Message]) -> list[Message]:
    """Delivery-status parts inside attached messages (a bounce that was forwarded)."""
    found: list[Message] = []
    stack = [(m, 0) for m in reversed(embedded)]
    visited = 0
    while stack and visited < 1000:
        part, depth = stack.pop()
        visited += 1
        payload = part.get_payload()
        if part.get_content_type() == "message/delivery-status":
            found.append(part)
        elif isinstance(payload, list) and depth < MAX_DEPTH:
            stack.extend((p, depth + 1) for p in reversed(payload) if isinstance(p, Message))
    return found


# -- does it look like a bounce at all? (cheap: headers only) -----------------

_BOUNCE_SENDER_RE = re.compile(
    r"mailer[-_. ]?daemon|mail[-_. ]?daemon|\bmdaemon|postmaster|^ndr@|^prvs=.*=ndr@"
    r"|mail[-_. ]?delivery|delivery[-_. ]?(?:sub)?system|mail (?:system|administrator)"
    r"|system[-_. ]?administrator|antivirus|smtp|mail[-_. ]?service|jetmail|mailserver",
    re.IGNORECASE,
)
_BOUNCE_SUBJECT_RE = re.compile(
    r"undeliver|not (?:be )?deliver|non[- ]?deliver|deliver(?:y|ed)?\b.{0,25}"
    r"(?:fail|status|problem|notif|report|error|warning|delay)"
    r"|fail(?:ed|ure)\b.{0,25}(?:deliver|mail|notice)|returned (?:mail|message)"
    r"|non[- ]?remis|unzustellbar|olevererbar|no se puede entregar|mail (?:system )?error"
    r"|user unknown|unknown user|could not be delivered|rejected mail|mail not delivered",
    re.IGNORECASE,
)


def _looks_like_bounce(mail: ParsedMail, walker: _Walker) -> bool:
    if mail.return_path == "" or walker.dsn_parts or mail.content_type == "multipart/report":
        return True
    for who in (mail.from_, mail.sender):
        if who is not None and _BOUNCE_SENDER_RE.search(f"{who.addr} {who.name}"):
            return True
    if mail.return_path and _BOUNCE_SENDER_RE.search(mail.return_path):
        return True
    return bool(_BOUNCE_SUBJECT_RE.search(mail.subject[:500]))


# -- the human-readable notice --------------------------------------------------

# Starts only where a run of local-part characters starts, and never backtracks
# into it: a 20,000-character line must not cost quadratic time.
_ADDR = (
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9_%+-][A-Za-z0-9._%+-]*+@[A-Za-z0-9-]++(?:\.[A-Za-z0-9-]++)+"
)
_ADDR_RE = re.compile(_ADDR)

# Where the returned message starts: "--- Below this line is a copy of the
# message.", "------ This is a copy of the message, including all the headers.",
# "Original message follows.", "----- Message header follows -----", an inline
# header block ...
_RETURNED_PHRASE_RE = re.compile(
    r"copy of (?:the|your)\b.{0,40}\bmessage|(?:original|returned|unsent|undelivered|source)"
    r" (?:message|mail)\b|message (?:header|headers|text|body)s?\b.{0,20}\bfollow"
    r"|headers? of the (?:original|source)|header and top|message reads|forwarded message"
    r"|mensaje original|lines of (?:the|your) (?:original )?message",
    re.IGNORECASE,
)
_RETURNED_TAIL_RE = re.compile(
    r"(?:follows?|following|below|attached|as follows)\b|:\s*$|\(in part\)", re.IGNORECASE
)
_DECORATED_RE = re.compile(r"^\s*(?:[-=|*_~]{2,}|\[)")
_INLINE_HEADER_RE = re.compile(
    r"^>?(?:received|return-path|message-id|dkim-signature|delivered-to):", re.IGNORECASE
)


def _notice_lines(text: str) -> list[str]:
    """The lines of a bounce before its returned message."""
    out: list[str] = []
    for line in text[:_NOTICE_CHARS].split("\n")[:_NOTICE_LINES]:
        line = line[:_NOTICE_LINE_CHARS]
        if _INLINE_HEADER_RE.match(line):
            break
        if _INTRO_RE.search(line):  # "did NOT receive a copy of your message:"
            out.append(line)
            continue
        if (
            len(line) < 120
            and _RETURNED_PHRASE_RE.search(line)
            and (_DECORATED_RE.match(line) or _RETURNED_TAIL_RE.search(line))
        ):
            break
        out.append(line)
    return out


_DELAY_RE = re.compile(
    r"\bdelay|not yet been delivered|has not been delivered yet|will (?:continue|keep)"
    r" (?:to )?(?:try|attempt)|delivery attempts will continue|will be retried|(?:is|just)"
    r" a warning|warning message only|advisory|postponed|still (?:being )?(?:tried|trying)",
    re.IGNORECASE,
)
_PERMANENT_RE = re.compile(
    r"permanent|fatal|given up|giving up|not going to try again|no longer valid", re.IGNORECASE
)
#: Phrases of a failure notice (reading an unknown format needs one).
_FAILURE_RE = re.compile(
    r"could ?n[o']t be (?:delivered|reached)|(?:was|were|is) not delivered|not be delivered"
    r"|undeliverable|delivery (?:has )?failed|delivery failure|(?:failed|unable) to deliver"
    r"|(?:could ?n[o']t|cannot|can't|unable to|not able to|wasn't able to) deliver"
    r"|did not reach|permanent (?:fatal )?error|failed recipient|user unknown|unknown user"
    r"|no such user|not (?:a )?(?:valid|known) (?:user|recipient)|mailbox (?:is )?"
    r"(?:full|unavailable)|over quota|quota exceeded|returned mail|n'a pas pu|non remis",
    re.IGNORECASE,
)

# A block of failed addresses follows: "The following addresses had permanent
# fatal errors", "did not reach the following recipient(s):", "Delivery has
# failed to these recipients or groups:", "Your message could not be delivered to"
_INTRO_RE = re.compile(
    r"following (?:\w+ )?(?:recipients?|address(?:\(?es\)?)?|destinations?|users?)\b"
    r"|(?:recipients?|address(?:\(?es\)?)?) (?:failed|follows?)\b|failed (?:recipients|address)"
    r"|permanent fatal errors|delivery has failed to|these recipients"
    r"|(?:could ?n[o']t|cannot|can't|unable to|not able to|wasn't able to|not) (?:be )?"
    r"deliver(?:ed)?(?: your)?(?: message| mail)? to\b|did not reach|could not be reached"
    r"|addressed to (?:e-?mail )?address|n'a pas pu (?:etre|être) d[eé]livr[eé] a",
    re.IGNORECASE,
)
# The failed address opens the line: "<a@b>:", "a@b:", "  a@b", "* a@b", "[a@b]: 550".
_LEAD_ADDR_RE = re.compile(rf"^[\s>*\-\u2022]*[\[<\"'(]*(?:smtp[:=])?({_ADDR})", re.IGNORECASE)
_POSTFIX_RE = re.compile(rf"^\s*<({_ADDR})>:")
_TRAILING_RE = re.compile(
    rf"({_ADDR})>?[ \t]*[-:]?[ \t]*(?:no such user|user unknown|unknown user|does not exist"
    r"|is unavailable|mailbox (?:is )?(?:full|unavailable))",
    re.IGNORECASE,
)
# In a failure list: "Failed Recipient: a@b", "Recipient: [SMTP:a@b]".
_LABEL_LINE_RE = re.compile(
    rf"^\s*[A-Za-z][\w .-]{{0,30}}:[ \t]*[\[<\"']*(?:smtp:)?({_ADDR})", re.I
)
_ADDR_COLON_RE = re.compile(r"[>\]\"']*[ \t]*:[ \t]*$")
# A bare user name alone on its line, right after the intro (AOL: "\tscreenname").
_BARE_LOCAL_RE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]{0,63})\s*$")
# The failed address follows a label on the same line.
_LABEL_RE = re.compile(
    r"(?:failed recipient|intended recipient|undeliverable address|unknown user"
    r"|invalid final delivery userid|delivery failed \d+ attempts|undeliverable +to"
    r"|originally addressed to|error-for|generated from|expanded from|rcpt to"
    r"|(?:could ?n[o']t|cannot|can't|unable to|not able to|wasn't able to|not) (?:be )?"
    r"deliver(?:ed)?(?: your)?(?: message| mail)? to|did not reach the following recipient"
    r"(?:\(s\))?|your message to|message to|local mailbox|quota violation for"
    r"|addressed(?: to)?,?|mailbox (?:is )?full|user unknown|unknown user|smtp[:=]"
    r"|\b[45]\d\d[ -](?:[45]\.\d{1,3}\.\d{1,3} +)?)"
    rf"[ \t]*:?[ \t]*[\[<\"'(]*[ \t]*({_ADDR})",
    re.IGNORECASE,
)
# Lines whose addresses are never the failed recipient.
_NOT_RECIPIENT_LINE_RE = re.compile(
    r"^[\s>*|-]*(?:from|sender|reply-to|cc|return-path|errors-to|message-id|received"
    r"|by|with|id)\b\s*:?|contact|mailto:|https?://|\bfrom\s*<",
    re.IGNORECASE,
)
_NOT_RECIPIENT_LOCALPARTS = frozenset(
    {
        "postmaster",
        "mailer-daemon",
        "mailer_daemon",
        "mailerdaemon",
        "mdaemon",
        "abuse",
        "hostmaster",
        "webmaster",
        "root",
        "noreply",
        "no-reply",
        "ndr",
        "nobody",
    }
)


def _anchored(lines: list[str], from_domain: str) -> tuple[list[str], list[str]]:
    """Addresses the notice names as failed, by the formats' own wording.

    Returns (listed, labelled): addresses on lines of their own in a failure
    list ("<a@b>:", a block after "The following addresses failed:"), and
    addresses after a label within a sentence ("Unknown user: a@b").
    """
    listed: list[str] = []
    labelled: list[str] = []
    n = len(lines)
    for i, line in enumerate(lines):
        labelled.extend(m.group(1) for m in _LABEL_RE.finditer(line))
        labelled.extend(m.group(1) for m in _TRAILING_RE.finditer(line))
        m = _LEAD_ADDR_RE.match(line)
        if m and _ADDR_COLON_RE.match(line, m.end()):
            listed.append(m.group(1))  # qmail, Yahoo, Exim: "<a@b>:" or "a@b:" alone
        elif m := _POSTFIX_RE.match(line):
            listed.append(m.group(1))  # Postfix: "<a@b>: host x said: 550 ..."
        intro = _INTRO_RE.search(line)
        if intro is None:
            continue
        tail = line[intro.end() :]
        rest = _LEAD_ADDR_RE.match(tail.lstrip(" \t:.-"))
        if rest:  # "recipient: a@b" lists it; "delivered to a@b." is a sentence
            (listed if tail.lstrip().startswith(":") else labelled).append(rest.group(1))
        # The block: addresses opening the lines below, up to the next blank
        # line; at most two other lines (the intro's tail) before the first.
        got = skipped = 0
        prev = line
        for nxt in lines[i + 1 : min(n, i + 40)]:
            if not nxt.strip():
                if got:
                    break
                continue
            m = _LEAD_ADDR_RE.match(nxt) or (
                None if _NOT_RECIPIENT_LINE_RE.search(nxt) else _LABEL_LINE_RE.match(nxt)
            )
            if m:
                listed.append(m.group(1))
                got += 1
            elif (
                not got
                and from_domain
                and prev.rstrip().endswith(":")
                and (b := _BARE_LOCAL_RE.match(nxt))
            ):
                listed.append(f"{b.group(1)}@{from_domain}")  # "...recipients:\n\tjoe"
                got += 1
            elif not got:
                skipped += 1
                if skipped > 2:
                    break
            prev = nxt
    return listed, labelled


def _generic(lines: list[str]) -> list[str]:
    """Every address of the notice, except on lines that name senders or contacts."""
    found: list[str] = []
    for line in lines:
        if "@" in line and not _NOT_RECIPIENT_LINE_RE.search(line):
            found.extend(_ADDR_RE.findall(line))
    return found


def _usable(mail: ParsedMail, addrs: list[str]) -> list[str]:
    """Lowercased and deduplicated, without the bounce's own sender and recipients
    and without role addresses (postmaster, mailer-daemon ...)."""
    own = {
        a.key
        for a in [mail.from_, mail.sender, *mail.to, *mail.cc, *mail.reply_to]
        if a is not None
    }
    if mail.return_path:
        own.add(mail.return_path.lower())
    out: list[str] = []
    for a in addrs:
        a = a.rstrip(".").lower()
        local = a.rpartition("@")[0]
        if a in own or local in _NOT_RECIPIENT_LOCALPARTS or len(a) > MAX_ADDR_LEN or a in out:
            continue
        out.append(a)
    return out


def _machine_sender(mail: ParsedMail) -> bool:
    """Null envelope sender, or a From / Return-Path of a mail system."""
    if mail.return_path == "" or (mail.return_path and _BOUNCE_SENDER_RE.search(mail.return_path)):
        return True
    return mail.from_ is not None and bool(
        _BOUNCE_SENDER_RE.search(f"{mail.from_.addr} {mail.from_.name}")
    )


def _text_recipients(mail: ParsedMail) -> list[str]:
    lines = _notice_lines(mail.text)
    notice = "\n".join(lines)
    if (_DELAY_RE.search(mail.subject) or _DELAY_RE.search(notice)) and not (
        _PERMANENT_RE.search(notice)
    ):
        return []
    from_domain = ""
    if mail.from_ is not None and _BOUNCE_SENDER_RE.search(mail.from_.addr):
        from_domain = mail.from_.key.rpartition("@")[2]
    listed, labelled = _anchored(lines, from_domain)
    found = _usable(mail, listed + labelled)
    if (
        not found
        and _machine_sender(mail)
        and (_FAILURE_RE.search(notice) or _FAILURE_RE.search(mail.subject))
    ):
        # An unknown format from a mail system: every address of the notice
        # that is not someone else's.  A notice that names many addresses in
        # free text is explaining something ("if a@b fails, try c@d"):
        # guessing would mark bystanders.
        found = _usable(mail, _generic(lines))
        if len(found) > _MAX_GUESSED:
            found = []
    return found[:MAX_BOUNCED]


def listed_recipients(mail: ParsedMail) -> list[str]:
    """Addresses that the text of ``mail`` lists the way delivery-failure notices do.

    Only addresses on lines of their own are counted ("<a@b>:", or a block
    after "could not be delivered to the following recipients:"), delays
    included, never the mail's own sender or recipients.  A machine sign for
    :mod:`classify`: a person mentioning an address in a sentence does not
    write that way.
    """
    listed, _ = _anchored(_notice_lines(mail.text), "")
    return _usable(mail, listed)[:MAX_BOUNCED]


def _bounced_recipients(
    mail: ParsedMail, walker: _Walker, hv: dict[str, list[str]], ctx: _Ctx
) -> list[str]:
    found, reported = _dsn_recipients(walker.dsn_parts, ctx)
    if reported:
        return found[:MAX_BOUNCED]
    failed = _parse_addresses(hv.get("x-failed-recipients", []), ctx)
    if failed:  # Exim names them in a header
        return _dedupe(a.key for a in failed)[:MAX_BOUNCED]
    if walker.embedded:
        found, reported = _dsn_recipients(_nested_dsn_parts(walker.embedded), ctx)
        if reported:
            return found[:MAX_BOUNCED]
    if not _looks_like_bounce(mail, walker):
        return []
    return _text_recipients(mail)


_BODY_MSGID_RE = re.compile(r"(?im)^[ >]*message-id:[ \t]*(<[^<>\s]+>)")


def _original_ids(embedded: list[Message], text: str, ctx: _Ctx) -> list[str]:
    out: dict[str, None] = {}
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
            out.update(dict.fromkeys(extract_ids(v)))
        if len(out) >= MAX_ORIGINAL_IDS:
            break
    if not out and text:
        for m in _BODY_MSGID_RE.finditer(text[:200_000]):
            if len(m.group(1)) <= MAX_ID_LEN:
                out[m.group(1)] = None
                if len(out) >= MAX_ORIGINAL_IDS:
                    break
    return list(out)[:MAX_ORIGINAL_IDS]


def _capped_ids(values: list[str], head: int, tail: int, ctx: _Ctx) -> list[str]:
    """The distinct ids of a header, only the first ``head`` and last ``tail`` of them."""
    ids = _dedupe(i for v in values for i in extract_ids(v))
    if len(ids) > head + tail:
        ctx.note(f"{len(ids)} Message-IDs in one header: kept {head + tail}")
        ids = ids[:head] + (ids[-tail:] if tail else [])
    return ids


# RFC 5646 in its common shapes ("en", "sv-SE", "zh-Hant-TW", "x-klingon").
_LANGUAGE_TAG_RE = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*")


def _content_language(sources: list[list[str] | None], ctx: _Ctx) -> str | None:
    """The first language tag of the first Content-Language that holds a valid one."""
    for source in sources:
        tag = _one_line(str(source[0])).split(",")[0].strip() if source else ""
        if not tag:
            continue
        if len(tag) <= MAX_LANGUAGE_LEN and _LANGUAGE_TAG_RE.fullmatch(tag):
            return tag
        ctx.note(f"invalid Content-Language {tag[:40]!r} ignored")
    return None


_DOMAIN_RE = re.compile(r"[^@\s<>\"]+")


def usable(a: Address | str | None) -> bool:
    """An address a reply can be sent to: a local part (quoted ones hold '@' and ',')
    and a domain."""
    local, _, domain = (a.addr if isinstance(a, Address) else a or "").rpartition("@")
    return bool(local) and _DOMAIN_RE.fullmatch(domain) is not None


def _fall_back_sender(mail: ParsedMail, ctx: _Ctx) -> None:
    """A mail without a usable From is somebody's all the same: Sender, Reply-To or the
    envelope sender (Return-Path, as the delivering server wrote it) say whose."""
    if usable(mail.from_):
        return
    path = Address("", mail.return_path) if mail.return_path else None
    reply_to = next((r for r in mail.reply_to if usable(r)), None)
    for header, a in (("sender", mail.sender), ("reply-to", reply_to), ("return-path", path)):
        if usable(a):
            ctx.note(f"no usable From ({mail.from_.addr if mail.from_ else 'none'}): "
                     f"{header} {a.addr} taken as the sender")  # type: ignore[union-attr]
            mail.from_, mail.from_header = a, header
            return
    mail.from_header = ""


def _parse(raw: bytes, ctx: _Ctx) -> ParsedMail:
    msg = mime.split(raw, _POLICY) or message_from_bytes(raw, policy=_POLICY)
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

    sources = [hv.get("content-language")]
    if walker.text_part is not None:
        sources.append(walker.text_part.get_all("content-language"))
    content_language = _content_language(sources, ctx)

    mail = ParsedMail(
        raw=raw,
        message_id=message_id,
        synthetic_id=synthetic,
        in_reply_to=_capped_ids(hv.get("in-reply-to", []), MAX_IN_REPLY_TO, 0, ctx),
        references=_capped_ids(hv.get("references", []), 1, MAX_REFERENCES - 1, ctx),
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
        content_type=valid_content_type(
            ctx.safe("content type", msg.get_content_type, "text/plain"), "text/plain"
        ),
        defects=ctx.defects,
    )
    _fall_back_sender(mail, ctx)
    mail.bounced_recipients = ctx.safe(
        "delivery status", lambda: _bounced_recipients(mail, walker, hv, ctx), []
    )
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


_FINGERPRINT_HEADERS = (
    "From", "Date", "Subject", "To", "Cc", "Reply-To", "In-Reply-To", "References",
    "MIME-Version", "Content-Type", "Content-Transfer-Encoding", "Content-Disposition",
    "Content-Language",
)


def fingerprint(mail: ParsedMail) -> str:
    """What stays the same when one mail is delivered twice (only trace headers such as
    Received, Delivered-To and Return-Path differ): its own headers and its body."""
    raw = mail.raw
    cut = raw.find(b"\r\n\r\n")
    body = raw[cut + 4:] if cut >= 0 else raw[raw.find(b"\n\n") + 2:]
    h = hashlib.sha256()
    for name in _FINGERPRINT_HEADERS:
        h.update((mail.header(name) or "").encode("utf-8", "replace") + b"\0")
    h.update(body)
    return h.hexdigest()
