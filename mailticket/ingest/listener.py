"""The built-in SMTP or LMTP listener: mail for department addresses goes straight
into the pipeline, and the sender hears 250 only after the mail is committed.

SMTP is the inbound path of the embedded default (no mail server anywhere); LMTP
lets a site's own MTA (Postfix ``lmtp:`` transport) push mail without IMAP.
LMTP wants one reply per recipient after DATA (RFC 2033); aiosmtpd sends
whatever ``handle_DATA`` returns, so we return one line per recipient.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from functools import partial

from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session

from mailticket.app import App
from mailticket.memory import trim_heap

log = logging.getLogger("mailticket.ingest.listener")


class IngestHandler:
    def __init__(self, app: App, on_ingested: Callable[[], None] = lambda: None,
                 lmtp: bool = False) -> None:
        self.app = app
        self.on_ingested = on_ingested
        self.lmtp = lmtp

    def _reply(self, envelope: Envelope, line: str) -> str:
        return "\r\n".join([line] * len(envelope.rcpt_tos)) if self.lmtp else line

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if self.app.config.department_for_address(address) is None:
            return f"550 5.1.1 <{address}>: not a department address of this helpdesk"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = with_return_path(envelope.original_content or b"", envelope.mail_from)
        dept = self.app.config.department_for_address(envelope.rcpt_tos[0])
        source = f"smtp:{session.peer[0] if session.peer else '?'}"
        loop = asyncio.get_running_loop()
        try:
            outcome = await loop.run_in_executor(None, partial(
                self.app.ingest, raw, department=dept.name if dept else None, source=source,
                envelope_rcpts=list(envelope.rcpt_tos)))
        except Exception as e:  # database down or locked: the sender keeps the mail
            log.warning("%s: cannot store mail now, answered 451: %s", source, e)
            return self._reply(envelope, "451 4.3.0 temporarily unable to store the message, "
                                         "try again later")
        self.on_ingested()
        # The mail's bytes (and aiosmtpd's copies of them) go once DATA is answered:
        # trim the heap then, so a big mail does not stay resident.
        size, raw, envelope.content, envelope.original_content = len(raw), b"", None, None
        loop.call_soon(trim_heap, size)
        return self._reply(envelope, f"250 2.0.0 {outcome.action} {outcome.message_id}")


def with_return_path(raw: bytes, mail_from: str | None) -> bytes:
    """The mail as the final delivery stores it (RFC 5321 4.4): the envelope sender in a
    Return-Path on top, as Dovecot writes it for IMAP.  A mail without a From is then
    still somebody's, and a null sender (<>) marks a machine's mail."""
    if mail_from is None:
        return raw
    addr = "".join(c for c in mail_from if c not in "<>\r\n")
    eol = b"\r\n" if raw.find(b"\r\n") == raw.find(b"\n") - 1 >= 0 else b"\n"
    return b"Return-Path: <" + addr.encode("utf-8", "surrogateescape") + b">" + eol + raw


class _Controller(Controller):
    def __init__(self, *args: object, lmtp: bool, **kwargs: object) -> None:
        self.lmtp = lmtp
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def factory(self) -> SMTP:
        cls = LMTP if self.lmtp else SMTP
        return cls(self.handler, **self.SMTP_kwargs)


class Listener:
    def __init__(self, app: App, on_ingested: Callable[[], None] = lambda: None) -> None:
        cfg = app.config.listener
        lmtp = cfg.protocol == "lmtp"
        tls: dict[str, object] = {}
        if cfg.tls_cert and cfg.tls_key:  # STARTTLS offered, not required
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cfg.tls_cert, cfg.tls_key)
            tls["tls_context"] = context
        self.controller = _Controller(
            IngestHandler(app, on_ingested, lmtp), hostname=cfg.host, port=cfg.port,
            data_size_limit=cfg.max_size, server_hostname="mailticket", lmtp=lmtp, **tls,
        )

    def start(self) -> None:
        self.controller.start()
        log.info("%s listener on %s:%s", "LMTP" if self.controller.lmtp else "SMTP",
                 self.controller.hostname, self.controller.port)

    def stop(self) -> None:
        self.controller.stop()
