"""Opening an IMAP connection, for the pollers and for the parse workers: a worker
fetches its batches itself and must not import the daemon (configuration, database)."""

from __future__ import annotations

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


def open_imap(login: ImapLogin) -> IMAPClient:
    context = ssl.create_default_context()
    client = IMAPClient(login["host"], port=login["port"], ssl=login["security"] == "tls",
                        ssl_context=context, timeout=login["timeout"])
    try:
        if login["security"] == "starttls":
            client.starttls(context)
        client.login(login["username"], login["password"])
    except Exception:
        client.shutdown()
        raise
    return client
