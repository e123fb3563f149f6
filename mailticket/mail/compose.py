"""Every mail mailticket sends is built here: headers, threading, loop stamps.

Values taken from incoming mail (names, subjects, addresses) pass through
``clean`` first, so no input can add a header or a recipient to what we send.
"""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes, policy
from email.charset import QP, Charset
from email.encoders import encode_base64
from email.header import Header
from email.headerregistry import Address
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, unquote

from mailticket.mail.parse import clean_filename, valid_content_type

LOOP_HEADER = "X-Mailticket-Loop"
_SMTP32 = policy.compat32.clone(linesep="\r\n")
_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+")


def clean(value: str, limit: int = 200) -> str:
    """One line, no control characters, bounded length."""
    return _CONTROL.sub(" ", value).strip()[:limit]


def attachments_of(raw: bytes) -> list[tuple[str, str, bytes]]:
    """The attached files of a mail, for passing them on (names are never used as paths)."""
    try:
        msg = message_from_bytes(raw, policy=policy.default)
        out = []
        for part in msg.walk():
            if part.is_multipart() or part.get_content_disposition() != "attachment":
                continue
            data = part.get_payload(decode=True) or b""
            name = clean_filename(part.get_filename() or "") or "attachment"
            out.append((name, valid_content_type(part.get_content_type()), data))
        return out
    except Exception:  # a broken part is not worth losing the answer over
        return []


def new_message_id(address: str) -> str:
    """An unguessable Message-ID in the department's domain (128 random bits)."""
    domain = address.rpartition("@")[2] or "mailticket.invalid"
    return f"<{secrets.token_urlsafe(16)}.mt@{clean(domain)}>"


def _addr_spec(addr: str) -> str:
    """``local@domain`` as a header needs it: the domain follows the last "@" (a quoted
    local part may hold one too), quoting where the local part needs it, IDNA domains."""
    local, _, domain = clean(addr, 320).rpartition("@")
    if not domain.isascii():
        with contextlib.suppress(UnicodeError):
            domain = domain.encode("idna").decode("ascii")
    return Address(username=unquote(local), domain=domain).addr_spec


def _mailbox(name: str, addr: str) -> str:
    return formataddr((clean(name, 120), _addr_spec(addr)), charset="utf-8")


def _text(value: str) -> str:
    """An unstructured header value: ASCII as is, anything else as RFC 2047 words."""
    return value if value.isascii() else Header(value, "utf-8").encode(linesep="\r\n")


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


def build(
    kind: str,
    *,
    from_name: str,
    from_addr: str,
    to: Sequence[tuple[str, str]],
    subject: str,
    text: str,
    date: datetime,
    instance: str,
    auto_submitted: str,
    cc: Sequence[tuple[str, str]] = (),
    reply_to: str | None = None,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    language: str | None = None,
    attachments: Sequence[tuple[str, str, bytes]] = (),
) -> Outgoing:
    # The stdlib's compat32 classes with headers we encode ourselves: five times
    # faster than EmailMessage's header registry, and every value has been through
    # clean(), so no input can add a line to what we send.
    body = MIMEText(text, "plain", _UTF8_QP)
    if language:
        body["Content-Language"] = clean(language, 20)
    msg: Message = body
    if attachments:
        msg = MIMEMultipart()
        msg.attach(body)
        for filename, ctype, data in attachments:
            maintype, _, subtype = ctype.partition("/")
            part = MIMEBase(maintype or "application", subtype or "octet-stream")
            part.set_payload(data)
            encode_base64(part)
            part.add_header("Content-Disposition", "attachment",
                            filename=("utf-8", "", clean(filename) or "file"))
            msg.attach(part)
    message_id = new_message_id(from_addr)
    subject = clean(subject, 400)
    refs = [clean(r, 998) for r in references if r]
    if len(refs) > 20:  # the first and the last ones; RFC 5322 readers need no more
        refs = refs[:1] + refs[-19:]
    in_reply_to = clean(in_reply_to, 998) if in_reply_to else None
    headers = [
        ("From", _mailbox(from_name, from_addr)),
        ("To", ", ".join(_mailbox(n, a) for n, a in to)),
        ("Cc", ", ".join(_mailbox(n, a) for n, a in cc)),
        ("Reply-To", _addr_spec(reply_to) if reply_to else ""),
        ("Subject", _text(subject)),
        ("Date", format_datetime(date)),
        ("Message-ID", message_id),
        ("In-Reply-To", in_reply_to or ""),
        ("References", " ".join(refs)),
        ("Auto-Submitted", auto_submitted),
        # Ask Exchange and friends not to answer us with their own auto-replies.
        ("X-Auto-Response-Suppress", "All"),
        (LOOP_HEADER, _text(clean(instance, 100))),
    ]
    # Our header lines are ASCII by now (clean() removed every control character,
    # RFC 2047 words carry the rest), so they are written as they are; only
    # References, which can be long, is folded between its ids.
    lines = [f"{name}: {value}\r\n" for name, value in headers if value and name != "References"]
    if refs:
        lines.append("References: " + "\r\n ".join(refs) + "\r\n")
    raw = "".join(lines).encode("ascii", "replace") + msg.as_bytes(policy=_SMTP32)
    to_addrs = [clean(a, 320) for _, a in to]
    cc_addrs = [clean(a, 320) for _, a in cc]
    return Outgoing(
        kind=kind,
        raw=raw,
        message_id=message_id,
        subject=subject,
        in_reply_to=in_reply_to,
        references=refs,
        mail_from=from_addr,
        recipients=list(dict.fromkeys(to_addrs + cc_addrs)),
        text=text,
        to=to_addrs,
        cc=cc_addrs,
    )
