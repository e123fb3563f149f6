"""Turn raw RFC 5322 bytes into a :class:`ParsedMail` without ever raising.

Mail arrives from anyone, so this layer is deliberately lenient: the stdlib
``compat32`` parser (fast, tolerant) does the MIME splitting, and every header
and body is decoded with explicit fallbacks by the modules beside this one
(text, charsets, encoded_words, addresses, message_ids, body, bounces).
Whatever is odd about a mail is written to ``ParsedMail.defects`` for the logs
instead of becoming an exception.  This module holds the result type, the parser
policy and the order in which a mail is read.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import Message
from email.policy import Compat32
from email.utils import parsedate_to_datetime

from mailticket.incoming import mime
from mailticket.incoming.addresses import (
    Address,
    delivered_to,
    first_address,
    parse_addresses,
    parse_return_path,
    usable,
)
from mailticket.incoming.body import (
    MAX_HTML_CHARS,
    Attachment,
    Walker,
    html_to_text,
    valid_content_type,
)
from mailticket.incoming.bounces import bounced_recipients, original_ids
from mailticket.incoming.charsets import decode_bytes, fix8bit
from mailticket.incoming.defects import Defects, tidy
from mailticket.incoming.encoded_words import decode_header_value
from mailticket.incoming.message_ids import (
    extract_ids,
    in_reply_to,
    references,
    synthetic_id,
)
from mailticket.incoming.text import FOLD_RE, body_text_clean, one_line

__all__ = ["ParsedMail", "fingerprint", "parse"]


#: Content-Language longer than this is not a tag we could store.
MAX_LANGUAGE_LEN = 16


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


class _LenientPolicy(Compat32):
    """compat32, but header values come back as plain text, never ``Header``.

    compat32 wraps values with raw 8-bit bytes in ``Header`` objects, which
    breaks parameter parsing (file names) in odd ways; decoding the bytes as
    UTF-8 (else cp1252) up front is what every mail client does.
    """

    def header_fetch_parse(self, name: str, value: str) -> str:
        return fix8bit(value)


_POLICY = _LenientPolicy()


def _header_values(msg: Message) -> dict[str, list[str]]:
    """Raw (8-bit fixed, unfolded, not RFC 2047 decoded) values by lowercase name."""
    out: dict[str, list[str]] = {}
    for name, value in msg.raw_items():
        key = one_line(fix8bit(str(name))).lower()
        if not key:
            continue
        v = FOLD_RE.sub("", fix8bit(str(value)))
        out.setdefault(key, []).append(v)
    return out


def _parse_date(values: list[str] | None, ctx: Defects) -> datetime | None:
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


# RFC 5646 in its common shapes ("en", "sv-SE", "zh-Hant-TW", "x-klingon").
_LANGUAGE_TAG_RE = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*")


def _content_language(sources: list[list[str] | None], ctx: Defects) -> str | None:
    """The first language tag of the first Content-Language that holds a valid one."""
    for source in sources:
        tag = one_line(str(source[0])).split(",")[0].strip() if source else ""
        if not tag:
            continue
        if len(tag) <= MAX_LANGUAGE_LEN and _LANGUAGE_TAG_RE.fullmatch(tag):
            return tag
        ctx.note(f"invalid Content-Language {tag[:40]!r} ignored")
    return None


def _fall_back_sender(mail: ParsedMail, ctx: Defects) -> None:
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


def _parse(raw: bytes, ctx: Defects) -> ParsedMail:
    msg = mime.split(raw, _POLICY) or message_from_bytes(raw, policy=_POLICY)
    no_headers: dict[str, list[str]] = {}
    hv = ctx.safe("headers", lambda: _header_values(msg), no_headers)

    headers = {
        k: [one_line(decode_header_value(v, ctx.defects)) for v in vs] for k, vs in hv.items()
    }

    ids = extract_ids(hv["message-id"][0]) if hv.get("message-id") else []
    if ids:
        message_id, synthetic = ids[0], False
    else:
        message_id, synthetic = synthetic_id(raw), True
        ctx.note("missing or unusable Message-ID; synthetic id used")

    walker = Walker(ctx)
    no_body: tuple[list[str], list[str]] = ([], [])
    plains, htmls = ctx.safe("body", lambda: walker.walk(msg, "1", 0), no_body)
    text = "\n".join(p for p in plains if p.strip())
    html = "\n".join(htmls) if htmls else None
    if not text.strip() and html:
        if len(html) > MAX_HTML_CHARS:
            ctx.note(f"HTML body over {MAX_HTML_CHARS} characters: text cut short")
        text = body_text_clean(ctx.safe("html conversion", lambda: html_to_text(html), ""))

    sources = [hv.get("content-language")]
    if walker.text_part is not None:
        sources.append(walker.text_part.get_all("content-language"))
    content_language = _content_language(sources, ctx)

    mail = ParsedMail(
        raw=raw,
        message_id=message_id,
        synthetic_id=synthetic,
        in_reply_to=in_reply_to(hv.get("in-reply-to", []), ctx),
        references=references(hv.get("references", []), ctx),
        from_=first_address(hv.get("from"), ctx),
        sender=first_address(hv.get("sender"), ctx),
        reply_to=parse_addresses(hv.get("reply-to", []), ctx),
        to=parse_addresses(hv.get("to", []), ctx),
        cc=parse_addresses(hv.get("cc", []), ctx),
        delivered_to=delivered_to(hv, ctx),
        return_path=parse_return_path(hv.get("return-path")),
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
        "delivery status", lambda: bounced_recipients(mail, walker, hv, ctx), []
    )
    mail.original_message_ids = ctx.safe(
        "original ids", lambda: original_ids(walker.embedded, text, ctx), []
    )
    return mail


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
    ctx = Defects()
    try:
        mail = _parse(raw, ctx)
    except Exception as exc:  # noqa: BLE001 - never take the daemon down
        ctx.note(f"unparseable mail: {type(exc).__name__}: {exc}")
    else:
        mail.defects = tidy(ctx.defects)
        return mail
    head, body = _split_head(raw)
    body_text = body_text_clean(decode_bytes(body[:MAX_HTML_CHARS])[0])
    try:
        mail = _parse(head + b"\n\n", ctx)
    except Exception as exc:  # noqa: BLE001
        ctx.note(f"unparseable headers: {type(exc).__name__}: {exc}")
        mail = ParsedMail(raw=raw, message_id=synthetic_id(raw), synthetic_id=True)
        body_text = body_text_clean(decode_bytes(raw[:MAX_HTML_CHARS])[0])
    mail.raw = raw
    if mail.synthetic_id:
        mail.message_id = synthetic_id(raw)
    mail.text = body_text
    mail.html = None
    mail.attachments = []
    mail.defects = tidy(ctx.defects)
    return mail


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
