"""Opening an IMAP connection, for the pollers and for the parse workers: a worker
fetches its batches itself and must not import the daemon (configuration, database)."""

from __future__ import annotations

import contextlib
import functools
import ssl
from typing import TypedDict

from imapclient import IMAPClient


class ImapLogin(TypedDict):
    """What a connection needs: plain values, so a worker gets them over its pipe."""

    host: str
    port: int
    security: str  # "tls", "starttls" or "none"
    username: str
    password: str
    timeout: float
    ca_file: str | None  # a private CA's PEM file; None: the system's trusted CAs


class ImapTlsError(ConnectionError):
    """The server's certificate was not accepted (or TLS failed): the host and why."""


def tls_problem(host: str, port: int, e: ssl.SSLError | ssl.CertificateError,
                ca_file: str | None) -> str:
    reason = getattr(e, "verify_message", None) or getattr(e, "reason", None) or str(e)
    hint = (f" (checked against ca_file {ca_file})" if ca_file else
            "; if it comes from a private CA, set ca_file to that CA's PEM file")
    if isinstance(e, ssl.SSLCertVerificationError | ssl.CertificateError):
        return f"{host}:{port}: certificate not accepted: {reason}{hint}"
    return f"{host}:{port}: TLS handshake failed: {reason}"


@functools.lru_cache(maxsize=8)
def _context(ca_file: str | None) -> ssl.SSLContext:
    """One per CA file, for every connection: loading the system's CAs takes ~20 ms a
    connection (6 % of the poller's time through a backlog, where each poll connects)."""
    return ssl.create_default_context(cafile=ca_file)


def open_imap(login: ImapLogin) -> IMAPClient:
    ca_file = login.get("ca_file")
    context = _context(ca_file) if login["security"] != "none" else None
    host, port = login["host"], login["port"]
    try:
        client = IMAPClient(host, port=port, ssl=login["security"] == "tls",
                            ssl_context=context, timeout=login["timeout"])
    except (ssl.SSLError, ssl.CertificateError) as e:
        raise ImapTlsError(tls_problem(host, port, e, ca_file)) from None
    try:
        if context is not None and login["security"] == "starttls":
            client.starttls(context)
        client.login(login["username"], login["password"])
    except (ssl.SSLError, ssl.CertificateError) as e:
        with contextlib.suppress(OSError):  # the socket a failed handshake left behind
            client.shutdown()
        raise ImapTlsError(tls_problem(host, port, e, ca_file)) from None
    except Exception:
        client.shutdown()
        raise
    return client
