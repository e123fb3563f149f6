"""Where outgoing mail goes: an SMTP submission server, or a local maildir.

The maildir transport is the embedded default: no mail server is needed to see
what mailticket would send.  Each file carries the envelope in
``X-Mailticket-Envelope-*`` headers added above the mail itself.
"""

from __future__ import annotations

import mailbox
import smtplib
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from mailticket.config import OutgoingConfig


class TransportDown(Exception):
    """The server cannot be reached or refuses us as a whole; retry later, all mail.

    ``kind`` says what an admin must look at: see ``describe``."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind, self.message = kind, message


class PermanentError(Exception):
    """The server refused this mail for good (5xx for every recipient)."""


# What went wrong, in the words check-config, status and the log use.
KINDS = ("unreachable", "tls", "authentication", "refused", "error")


def describe(e: BaseException) -> tuple[str, str]:
    """An SMTP failure as (kind, message): the network, TLS, the login or a refusal."""
    if isinstance(e, TransportDown):
        return e.kind, e.message
    if isinstance(e, smtplib.SMTPAuthenticationError):
        return "authentication", f"credentials refused: {_reply(e)}"
    if isinstance(e, smtplib.SMTPRecipientsRefused):
        return "refused", "recipients refused: " + ", ".join(
            f"{r} ({c} {_text(m)})" for r, (c, m) in e.recipients.items())
    if isinstance(e, smtplib.SMTPSenderRefused):
        return _refusal(e, f"sender {e.sender} refused: {_reply(e)}")
    if isinstance(e, smtplib.SMTPResponseException):
        return _refusal(e, f"server said {_reply(e)}")
    if isinstance(e, smtplib.SMTPServerDisconnected):
        return "unreachable", f"connection lost: {e or 'closed by the server'}"
    if isinstance(e, ssl.SSLCertVerificationError | ssl.CertificateError):
        reason = getattr(e, "verify_message", None) or str(e)
        return "tls", (f"certificate not accepted: {reason}; if it comes from a private CA, "
                       "set outgoing.ca_file to that CA's PEM file")
    if isinstance(e, ssl.SSLError):
        return "tls", f"TLS handshake failed: {e}"
    if isinstance(e, socket.gaierror):
        return "unreachable", f"host name not found: {e.strerror or e}"
    if isinstance(e, ConnectionRefusedError):
        return "unreachable", "connection refused (nothing listens on that port)"
    if isinstance(e, TimeoutError):
        return "unreachable", "timed out"
    if isinstance(e, OSError):
        return "unreachable", e.strerror or str(e)
    return "error", f"{type(e).__name__}: {e}"


def _text(m: bytes | str) -> str:
    return m.decode("utf-8", "replace") if isinstance(m, bytes) else m


def _reply(e: smtplib.SMTPResponseException) -> str:
    return f"{e.smtp_code} {_text(e.smtp_error)}"


def _refusal(e: smtplib.SMTPResponseException, message: str) -> tuple[str, str]:
    # 530 "authentication required" and 535 are the login's business, not the mail's.
    return ("authentication" if e.smtp_code in (530, 535) else "refused"), message


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
            refused = (pipelined_sendmail(self.smtp, mail_from, rcpts, raw)
                       if self.smtp.has_extn("pipelining")
                       else self.smtp.sendmail(mail_from, rcpts, raw))
        except smtplib.SMTPRecipientsRefused as e:
            codes = [code for code, _ in e.recipients.values()]
            if all(code >= 500 for code in codes):
                raise PermanentError(": ".join(describe(e))) from None
            raise RuntimeError(": ".join(describe(e)) + " (for now)") from None
        except smtplib.SMTPResponseException as e:
            if e.smtp_code >= 500 and not isinstance(e, smtplib.SMTPSenderRefused):
                raise PermanentError(": ".join(describe(e))) from None
            raise RuntimeError(": ".join(describe(e))) from None
        except (smtplib.SMTPServerDisconnected, OSError) as e:
            raise TransportDown(*describe(e)) from None
        return {k: f"{c} {_text(m)}" for k, (c, m) in refused.items()}


def pipelined_sendmail(smtp: smtplib.SMTP, mail_from: str, rcpts: list[str], raw: bytes
                       ) -> dict[str, tuple[int, bytes]]:
    """``smtp.sendmail`` with MAIL, RCPT and DATA sent in one write (RFC 2920, for a
    server that offers PIPELINING): two round trips a mail instead of three or more.
    The same replies are read, in order, and the same exceptions raised: a mail is
    accepted only by the server's 250 after its data, and each refused recipient is
    named."""
    options = f" size={len(raw)}" if smtp.does_esmtp and smtp.has_extn("size") else ""
    commands = [f"mail FROM:{_quoteaddr(mail_from)}{options}",
                *(f"rcpt TO:{_quoteaddr(r)}" for r in rcpts), "data"]
    if any("\r" in c or "\n" in c for c in commands):
        raise ValueError("command and arguments contain prohibited newline characters")
    smtp.send("".join(c + "\r\n" for c in commands))  # encoded as smtplib's putcmd does
    mail = smtp.getreply()
    answers = [smtp.getreply() for _ in rcpts]
    data = smtp.getreply()
    if mail[0] != 250:
        if mail[0] == 421:
            smtp.close()
        else:
            _end_data(smtp, data)
            smtp._rset()  # type: ignore[attr-defined]
        raise smtplib.SMTPSenderRefused(mail[0], mail[1], mail_from)
    refused: dict[str, tuple[int, bytes]] = {}
    for rcpt, (code, resp) in zip(rcpts, answers, strict=True):
        if code not in (250, 251):
            refused[rcpt] = (code, resp)
        if code == 421:
            smtp.close()
            raise smtplib.SMTPRecipientsRefused(refused)
    if len(refused) == len(rcpts):
        _end_data(smtp, data)
        smtp._rset()  # type: ignore[attr-defined]
        raise smtplib.SMTPRecipientsRefused(refused)
    if data[0] != 354:
        if data[0] == 421:
            smtp.close()
        else:
            smtp._rset()  # type: ignore[attr-defined]
        raise smtplib.SMTPDataError(*data)
    # A line starting with "." gets another (smtplib's regular expression over the
    # whole mail was an eighth of the sender's CPU; most mails have no such line).
    quoted = (smtplib._quote_periods(raw)  # type: ignore[attr-defined]
              if raw.startswith(b".") or b"\n." in raw else raw)
    if quoted[-2:] != b"\r\n":
        quoted += b"\r\n"
    smtp.send(quoted + b".\r\n")
    code, resp = smtp.getreply()
    if code != 250:
        if code == 421:
            smtp.close()
        else:
            smtp._rset()  # type: ignore[attr-defined]
        raise smtplib.SMTPDataError(code, resp)
    return refused


#: ``smtplib.quoteaddr`` parses the address each time (email.utils): the outbox sends
#: from a few addresses to the same customers and agents again and again.
_quoteaddr = lru_cache(maxsize=4096)(smtplib.quoteaddr)


def _end_data(smtp: smtplib.SMTP, data: tuple[int, bytes]) -> None:
    """A server that said 354 to a pipelined DATA whose MAIL or RCPTs it refused waits
    for data: an empty mail ends it, and is not delivered (no recipient)."""
    if data[0] == 354:
        smtp.send(b".\r\n")
        smtp.getreply()


class SmtpTransport:
    def __init__(self, cfg: OutgoingConfig) -> None:
        self.cfg = cfg

    def connect(self) -> smtplib.SMTP:
        """Connect, secure and log in; any failure is a TransportDown saying which step."""
        cfg = self.cfg
        where = f"{cfg.host}:{cfg.port}"
        try:
            smtp = self._open()
        except Exception as e:
            kind, message = describe(e)
            raise TransportDown(kind, f"{where}: {message}") from None
        try:
            self._secure_and_login(smtp)
        except Exception as e:
            smtp.close()
            kind, message = describe(e)
            raise TransportDown(kind, f"{where}: {message}") from None
        return smtp

    def _open(self) -> smtplib.SMTP:
        cfg = self.cfg
        if cfg.security == "tls":
            return smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout,
                                    context=self._context())
        return smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)

    def _context(self) -> ssl.SSLContext:
        """Certificates checked against the system's CAs, or ``ca_file``'s private CA."""
        return ssl.create_default_context(cafile=self.cfg.ca_file)

    def _secure_and_login(self, smtp: smtplib.SMTP) -> None:
        cfg = self.cfg
        smtp.ehlo_or_helo_if_needed()
        if cfg.security == "starttls":
            if not smtp.has_extn("starttls"):
                raise TransportDown("tls", "the server does not offer STARTTLS "
                                           "(security = \"starttls\" is configured)")
            smtp.starttls(context=self._context())
            smtp.ehlo()
        if cfg.username:
            if not smtp.has_extn("auth"):
                raise TransportDown("authentication", "the server does not offer AUTH "
                                    f"but a username ({cfg.username}) is configured")
            try:
                smtp.login(cfg.username, cfg.resolved_password() or "")
            except smtplib.SMTPAuthenticationError as e:
                raise TransportDown("authentication",
                                    f"login as {cfg.username} refused: {_reply(e)}") from None

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
