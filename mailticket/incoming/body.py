"""The MIME tree walked once: body text, HTML, attachments, file names, content types.

One pass over the parts sorts the leaves and remembers what the bounce readers need
(delivery-status parts, attached messages), so no part is decoded twice.
"""

from __future__ import annotations

import html as html_mod
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from mailticket.incoming.charsets import decode_bytes
from mailticket.incoming.defects import Defects
from mailticket.incoming.encoded_words import decode_header_value
from mailticket.incoming.message_ids import content_id
from mailticket.incoming.text import body_text_clean, clean_filename

#: Parts nested deeper than this are not walked (mail bombs, recursion limits).
MAX_DEPTH = 40
#: HTML larger than this is truncated before conversion to text (inscriptis is
#: the slowest step of parsing; a 50 MB HTML body must not stall the daemon).
MAX_HTML_CHARS = 1_000_000


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




_CTYPE_RE = re.compile(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+")


def valid_content_type(ctype: str, default: str = "application/octet-stream") -> str:
    """``type/subtype`` as RFC 2045 allows it (lowercase), else ``default``."""
    ctype = ctype.strip().lower()
    return ctype if len(ctype) <= 255 and _CTYPE_RE.fullmatch(ctype) else default


def _filename(part: Message, ctx: Defects) -> str:
    raw = ctx.safe("filename", part.get_filename, None)
    if not raw:
        return ""
    return clean_filename(decode_header_value(str(raw), ctx.defects))


def _disposition(part: Message) -> str:
    value = part.get("content-disposition")
    if not value:
        return ""
    return str(value).split(";", 1)[0].strip().lower()


def part_payload(part: Message, ctx: Defects, where: str) -> bytes:
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


def _serialized_size(payload: Sequence[Message | str], depth: int = 0) -> int:
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


class Walker:
    """Walks the MIME tree once, sorting leaves into body text and attachments."""

    def __init__(self, ctx: Defects) -> None:
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
            data = part_payload(part, self.ctx, where)
            text = self._decode_text(part, data, ctype, where)
            if ctype == "text/plain":
                if self.text_part is None:
                    self.text_part = part
                return [text], []
            return [], [text]
        if ctype == "text/rfc822-headers":
            self.embedded.append(part)
        data = part_payload(part, self.ctx, where)
        self.attachments.append(
            Attachment(
                filename=filename,
                content_type=valid_content_type(ctype),
                size=len(data),
                content_id=content_id(part),
                inline=disposition == "inline"
                or (not disposition and part.get("content-id") is not None),
                data=data if disposition == "attachment" else None,
            )
        )
        return [], []

    def _multipart(
        self, part: Message, ctype: str, children: Sequence[Message | str], where: str,
        depth: int
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

    def _attach_message(self, part: Message, ctype: str, payload: list[Any],
                        where: str) -> None:
        if ctype == "message/delivery-status":
            self.dsn_parts.append(part)
        else:
            self.embedded.extend(p for p in payload if isinstance(p, Message))
        self.attachments.append(
            Attachment(
                filename=_filename(part, self.ctx),
                content_type=valid_content_type(ctype),
                size=_serialized_size(payload),
                content_id=content_id(part),
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
        return body_text_clean(text.lstrip("\ufeff"))


_TAG_RE = re.compile(r"<[^>]*>")


def html_to_text(html: str) -> str:
    """Readable text from HTML via inscriptis; a crude tag stripper if it fails.

    Imported here, not above: with parse workers the daemon never converts HTML, and
    inscriptis with lxml is heavy to keep in its memory."""
    from inscriptis import get_text

    html = html[:MAX_HTML_CHARS]
    try:
        return str(get_text(html))
    except Exception:  # noqa: BLE001 - lxml rejects some inputs
        return html_mod.unescape(_TAG_RE.sub(" ", html))
