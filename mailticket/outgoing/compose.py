"""Every mail mailticket sends is built here: headers, threading, loop stamps.

Values taken from incoming mail (names, subjects, addresses) pass through
``clean`` first, so no input can add a header or a recipient to what we send.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.headerregistry import Address
from email.utils import format_datetime, formataddr, unquote
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from mailticket.incoming.body import valid_content_type
from mailticket.incoming.parse import ParsedMail

LOOP_HEADER = "X-Mailticket-Loop"
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+")


def loop_instance(secret: bytes, configured: str | None = None) -> str:
    """This installation's loop-header value: the configured one, else a keyed hash of its
    token secret, stable for the installation and unlike any other installation's, so two
    mailtickets writing to each other never take the other's mail for their own."""
    if configured:
        return clean(configured, 100)
    return "mailticket-" + hmac.new(secret, b"loop-header", hashlib.sha256).hexdigest()[:16]


def clean(value: str, limit: int = 200) -> str:
    """One line, no control characters, bounded length."""
    return _CONTROL.sub(" ", value).strip()[:limit]


def files_of(mail: ParsedMail) -> list[tuple[str, str, bytes]]:
    """The files a mail carries (Content-Disposition: attachment), to pass them on; their
    names have been through ``text.clean_filename`` and are never used as paths."""
    return [(a.filename or "attachment", a.content_type, a.data)
            for a in mail.attachments if a.data is not None]


def new_message_id(address: str) -> str:
    """An unguessable Message-ID in the department's domain (128 random bits)."""
    domain = address.rpartition("@")[2] or "mailticket.invalid"
    return f"<{secrets.token_urlsafe(16)}.mt@{clean(domain)}>"


@lru_cache(maxsize=4096)
def _addr_spec(addr: str) -> str:
    """``local@domain`` as a header needs it: the domain follows the last "@" (a quoted
    local part may hold one too), quoting where the local part needs it, IDNA domains."""
    local, _, domain = clean(addr, 320).rpartition("@")
    if not domain.isascii():
        with contextlib.suppress(UnicodeError):
            domain = domain.encode("idna").decode("ascii")
    return Address(username=unquote(local), domain=domain).addr_spec


@lru_cache(maxsize=4096)  # agents, departments and regular customers come back
def _mailbox(name: str, addr: str) -> str:
    return formataddr((clean(name, 120), _addr_spec(addr)), charset="utf-8")


def _text(value: str) -> str:
    """An unstructured header value: ASCII as is, anything else as RFC 2047 words.

    UTF-8 "B" words of at most 36 bytes (60 characters encoded: lines stay within the
    76 characters RFC 2047 section 2 allows after a header name of up to 16),
    never splitting a character, one per folded line.
    """
    if value.isascii():
        return value
    words: list[str] = []
    chunk: list[str] = []
    size = 0
    for ch in value:
        n = len(ch.encode("utf-8"))
        if size + n > 36:
            words.append("".join(chunk))
            chunk, size = [], 0
        chunk.append(ch)
        size += n
    words.append("".join(chunk))
    return "\r\n ".join(
        "=?utf-8?b?" + base64.b64encode(w.encode("utf-8")).decode("ascii") + "?="
        for w in words)


@lru_cache(maxsize=16)  # the mails of an ingest batch share one instant
def _date_header(date: datetime) -> str:
    return format_datetime(date)


@dataclass
class Outgoing:
    """A mail ready for the outbox, with the envelope it goes out with."""

    kind: str
    raw: bytes              # exactly what goes to SMTP
    message_id: str
    subject: str            # as people read it (not encoded)
    in_reply_to: str | None
    references: list[str]
    mail_from: str
    recipients: list[str]
    text: str
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)


def build(kind: str, *, to: Sequence[tuple[str, str]], **common: Any) -> Outgoing:
    """One mail to the given recipients."""
    return build_each(kind, each_to=[to], **common)[0]


def build_each(
    kind: str,
    *,
    each_to: Sequence[Sequence[tuple[str, str]]],
    from_name: str,
    from_addr: str,
    subject: str,
    text: str,
    date: datetime,
    instance: str,
    auto_submitted: str | None,
    cc: Sequence[tuple[str, str]] = (),
    reply_to: str | None = None,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    language: str | None = None,
    attachments: Sequence[tuple[str, str, bytes]] = (),
) -> list[Outgoing]:
    """The same mail to several recipients (agents), one Message-ID each.

    ``auto_submitted``: None for a person's words (no Auto-Submitted header at all).

    The MIME body is serialised once and shared; only the header lines differ.
    """
    entity = mime_entity(text, language, attachments)
    subject = clean(subject, 400)
    refs = [clean(r, 998) for r in references if r]
    if len(refs) > 20:  # the first and the last ones; RFC 5322 readers need no more
        refs = refs[:1] + refs[-19:]
    in_reply_to = clean(in_reply_to, 998) if in_reply_to else None
    cc_addrs = [clean(a, 320) for _, a in cc]
    shared = [
        ("From", _mailbox(from_name, from_addr)),
        ("Cc", ", ".join(_mailbox(n, a) for n, a in cc)),
        ("Reply-To", _addr_spec(reply_to) if reply_to else ""),
        ("Subject", _text(subject)),
        ("Date", _date_header(date)),
    ]
    trailer = [
        ("In-Reply-To", in_reply_to or ""),
        ("Auto-Submitted", auto_submitted or ""),
        # Ask Exchange and friends not to answer us with their own auto-replies.
        ("X-Auto-Response-Suppress", "All"),
        (LOOP_HEADER, _text(clean(instance, 100))),
    ]
    # Our header lines are ASCII by now (clean() removed every control character,
    # RFC 2047 words carry the rest), so they are written as they are; only
    # References, which can be long, is folded between its ids.
    tail = "".join(f"{name}: {value}\r\n" for name, value in trailer if value)
    if refs:
        tail += "References: " + "\r\n ".join(refs) + "\r\n"
    tail += "MIME-Version: 1.0\r\n"
    out = []
    for to in each_to:
        message_id = new_message_id(from_addr)
        head = [*shared, ("To", ", ".join(_mailbox(n, a) for n, a in to)),
                ("Message-ID", message_id)]
        lines = "".join(f"{name}: {value}\r\n" for name, value in head if value) + tail
        to_addrs = [clean(a, 320) for _, a in to]
        out.append(Outgoing(
            kind=kind,
            raw=lines.encode("ascii", "replace") + entity,
            message_id=message_id,
            subject=subject,
            in_reply_to=in_reply_to,
            references=refs,
            mail_from=from_addr,
            recipients=list(dict.fromkeys(to_addrs + cc_addrs)),
            text=text,
            to=to_addrs,
            cc=cc_addrs,
        ))
    return out


# -- the MIME body, written directly: its shape is fixed and small, and the stdlib's
# C encoders (binascii) do the byte work ten times faster than email.generator.

def _qp(text: str) -> bytes:
    """UTF-8 text as quoted-printable lines ending in CRLF (RFC 2045 6.7)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.endswith("\n"):
        text += "\n"
    return binascii.b2a_qp(text.encode("utf-8"), istext=True).replace(b"\n", b"\r\n")


def _b64(data: bytes) -> bytes:
    """Base64 in lines of 76 characters, each ending in CRLF (RFC 2045 6.8)."""
    encoded = binascii.b2a_base64(data, newline=False)
    lines = [encoded[i:i + 76] for i in range(0, len(encoded), 76)]
    return b"\r\n".join(lines) + b"\r\n" if lines else b""


def _filename_param(name: str) -> str:
    """ASCII names quoted as every client reads them; others as RFC 2231 UTF-8."""
    name = clean(name) or "file"
    if name.isascii():
        return 'filename="' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return "filename*=utf-8''" + quote(name, safe="")


def mime_entity(text: str, language: str | None,
                attachments: Sequence[tuple[str, str, bytes]] = ()) -> bytes:
    """Content headers and body: plain text, or multipart/mixed with the files after it."""
    text_head = "Content-Type: text/plain; charset=utf-8\r\n" \
        "Content-Transfer-Encoding: quoted-printable\r\n"
    if language:
        text_head += f"Content-Language: {clean(language, 20)}\r\n"
    text_part = text_head.encode("ascii", "replace") + b"\r\n" + _qp(text)
    if not attachments:
        return text_part
    # "=_" never occurs in quoted-printable or base64 text, nor 128 random bits anywhere.
    boundary = f"=_mailticket_{secrets.token_hex(16)}"
    # The CRLF before a delimiter belongs to it (RFC 2046 5.1.1), so each part keeps
    # its own final line break.
    delimiter = f"\r\n--{boundary}\r\n".encode()
    chunks = [f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n'.encode(),
              delimiter, text_part]
    for filename, ctype, data in attachments:
        ctype = valid_content_type(ctype)
        head = (f"Content-Type: {ctype}\r\nContent-Transfer-Encoding: base64\r\n"
                f"Content-Disposition: attachment; {_filename_param(filename)}\r\n\r\n")
        chunks += [delimiter, head.encode("ascii"), _b64(data)]
    chunks.append(f"\r\n--{boundary}--\r\n".encode())
    return b"".join(chunks)
