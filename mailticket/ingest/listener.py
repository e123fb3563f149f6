"""The built-in SMTP listener: mail for department addresses goes straight into
the pipeline, and the sender hears 250 only after the mail is committed.

It is the inbound path of the embedded default (no mail server anywhere), and
lets a site's own MTA hand mail over without IMAP.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from functools import partial

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from mailticket.app import App

log = logging.getLogger("mailticket.ingest.listener")


class IngestHandler:
    def __init__(self, app: App, on_ingested: Callable[[], None] = lambda: None) -> None:
        self.app = app
        self.on_ingested = on_ingested

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if self.app.config.department_for_address(address) is None:
            return f"550 5.1.1 <{address}>: not a department address of this helpdesk"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        dept = self.app.config.department_for_address(envelope.rcpt_tos[0])
        source = f"smtp:{session.peer[0] if session.peer else '?'}"
        loop = asyncio.get_running_loop()
        try:
            outcome = await loop.run_in_executor(None, partial(
                self.app.ingest, raw, department=dept.name if dept else None, source=source,
                envelope_rcpts=list(envelope.rcpt_tos)))
        except Exception as e:  # database down or locked: the sender keeps the mail
            log.warning("%s: cannot store mail now, answered 451: %s", source, e)
            return "451 4.3.0 temporarily unable to store the message, try again later"
        self.on_ingested()
        return f"250 2.0.0 {outcome.action} {outcome.message_id}"


class Listener:
    def __init__(self, app: App, on_ingested: Callable[[], None] = lambda: None) -> None:
        cfg = app.config.listener
        self.controller = Controller(
            IngestHandler(app, on_ingested), hostname=cfg.host, port=cfg.port,
            data_size_limit=cfg.max_size, server_hostname="mailticket",
        )

    def start(self) -> None:
        self.controller.start()
        log.info("SMTP listener on %s:%s", self.controller.hostname, self.controller.port)

    def stop(self) -> None:
        self.controller.stop()
