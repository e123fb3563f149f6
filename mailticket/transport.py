"""Where outgoing mail goes: an SMTP submission server, or a local maildir.

The maildir transport is the embedded default: no mail server is needed to see
what mailticket would send.  Each file carries the envelope in
``X-Mailticket-Envelope-*`` headers added above the mail itself.
"""

from __future__ import annotations

import mailbox
import smtplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from mailticket.config import OutgoingConfig


class TransportDown(Exception):
    """The server cannot be reached or refuses us as a whole; retry later, all mail."""


class PermanentError(Exception):
    """The server refused this mail for good (5xx for every recipient)."""


class Connection(Protocol):
    def send(self, mail_from: str, rcpts: list[str], raw: bytes) -> dict[str, str]:
        """Deliver; return the recipients refused (others accepted)."""


class Transport(Protocol):
    def session(self) -> contextlib_cm: ...  # type: ignore[name-defined]  # noqa: F821


class MaildirTransport:
    def __init__(self, path: str) -> None:
        self.path = Path(path)

    @contextmanager
    def session(self) -> Iterator[MaildirTransport]:
        yield self

    def send(self, mail_from: str, rcpts: list[str], raw: bytes) -> dict[str, str]:
        box = mailbox.Maildir(self.path, create=True)
        envelope = f"X-Mailticket-Envelope-From: {mail_from}\r\n" + "".join(
            f"X-Mailticket-Envelope-To: {r}\r\n" for r in rcpts)
        box.add(envelope.encode() + raw)  # written to tmp/, then renamed into new/
        return {}


class _SmtpConnection:
    def __init__(self, smtp: smtplib.SMTP) -> None:
        self.smtp = smtp

    def send(self, mail_from: str, rcpts: list[str], raw: bytes) -> dict[str, str]:
        try:
            refused = self.smtp.sendmail(mail_from, rcpts, raw)
        except smtplib.SMTPRecipientsRefused as e:
            codes = [code for code, _ in e.recipients.values()]
            if all(code >= 500 for code in codes):
                raise PermanentError(f"all recipients refused: {e.recipients}") from None
            raise RuntimeError(f"recipients refused for now: {e.recipients}") from None
        except smtplib.SMTPResponseException as e:
            if e.smtp_code >= 500 and not isinstance(e, smtplib.SMTPSenderRefused):
                raise PermanentError(f"{e.smtp_code} {e.smtp_error!r}") from None
            raise RuntimeError(f"{e.smtp_code} {e.smtp_error!r}") from None
        except (smtplib.SMTPServerDisconnected, OSError) as e:
            raise TransportDown(f"lost the SMTP connection: {e}") from None
        return {k: f"{c} {m!r}" for k, (c, m) in refused.items()}


class SmtpTransport:
    def __init__(self, cfg: OutgoingConfig) -> None:
        self.cfg = cfg

    def connect(self) -> smtplib.SMTP:
        cfg = self.cfg
        try:
            if cfg.security == "tls":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    cfg.host, cfg.port, timeout=cfg.timeout,
                    context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)
                if cfg.security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
            if cfg.username:
                smtp.login(cfg.username, cfg.resolved_password() or "")
            return smtp
        except smtplib.SMTPAuthenticationError as e:
            raise TransportDown(f"SMTP login as {cfg.username} refused: {e.smtp_code}") from None
        except (smtplib.SMTPException, OSError) as e:
            raise TransportDown(f"cannot reach SMTP {cfg.host}:{cfg.port}: {e}") from None

    @contextmanager
    def session(self) -> Iterator[_SmtpConnection]:
        smtp = self.connect()
        try:
            yield _SmtpConnection(smtp)
        finally:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()


def make_transport(cfg: OutgoingConfig) -> MaildirTransport | SmtpTransport:
    return MaildirTransport(cfg.maildir) if cfg.transport == "maildir" else SmtpTransport(cfg)
