"""Every mail mailticket sends is built here: headers, threading, loop stamps.

Values taken from incoming mail (names, subjects, addresses) pass through
``clean`` first, so no input can add a header or a recipient to what we send.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes, policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, unquote

from mailticket.mail.parse import clean_filename, valid_content_type

LOOP_HEADER = "X-Mailticket-Loop"
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


def _address(name: str, addr: str) -> Address:
    # The domain follows the last "@": a quoted local part may hold one too.
    local, _, domain = clean(addr, 320).rpartition("@")
    return Address(display_name=clean(name, 120), username=unquote(local), domain=domain)


@dataclass
class Outgoing:
    """A mail ready for the outbox, with the envelope it goes out with."""

    kind: str
    message: EmailMessage
    mail_from: str
    recipients: list[str]
    text: str
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])


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
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = _address(from_name, from_addr)
    msg["To"] = [_address(n, a) for n, a in to]
    if cc:
        msg["Cc"] = [_address(n, a) for n, a in cc]
    if reply_to:
        msg["Reply-To"] = _address("", reply_to)
    msg["Subject"] = clean(subject, 400)
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = new_message_id(from_addr)
    if in_reply_to:
        msg["In-Reply-To"] = clean(in_reply_to, 998)
    refs = [clean(r, 998) for r in references if r]
    if refs:
        # Keep the first and the last ones; RFC 5322 readers need no more.
        if len(refs) > 20:
            refs = refs[:1] + refs[-19:]
        msg["References"] = " ".join(refs)
    msg["Auto-Submitted"] = auto_submitted
    # Ask Exchange and friends not to answer us with their own auto-replies.
    msg["X-Auto-Response-Suppress"] = "All"
    msg[LOOP_HEADER] = clean(instance, 100)
    msg.set_content(text, charset="utf-8", cte="quoted-printable")
    if language:  # after set_content, which clears every Content-* header
        msg["Content-Language"] = clean(language, 20)
    for filename, ctype, data in attachments:
        maintype, _, subtype = ctype.partition("/")
        msg.add_attachment(data, maintype=maintype or "application",
                           subtype=subtype or "octet-stream", filename=clean(filename) or "file")
    to_addrs = [clean(a, 320) for _, a in to]
    cc_addrs = [clean(a, 320) for _, a in cc]
    return Outgoing(
        kind=kind,
        message=msg,
        mail_from=from_addr,
        recipients=list(dict.fromkeys(to_addrs + cc_addrs)),
        text=text,
        to=to_addrs,
        cc=cc_addrs,
    )
