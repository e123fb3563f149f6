"""Ticket token addresses: ``support+<id>-<mac>@example.com``.

The mac is an HMAC of the ticket id under the server secret, so a token proves
that its holder was sent a mail about that ticket; guessing one is 2^-80 work.
Base32 lowercase survives mail systems that fold the local part to lowercase.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

_TOKEN_RE = re.compile(r"^([^+@]+)\+(\d{1,12})-([a-z2-7]{16})@(.+)$")


def _mac(secret: bytes, ticket_id: int) -> str:
    digest = hmac.new(secret, f"ticket:{ticket_id}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest[:10]).decode("ascii").lower()


def token_address(address: str, ticket_id: int, secret: bytes) -> str:
    local, _, domain = address.partition("@")
    return f"{local}+{ticket_id}-{_mac(secret, ticket_id)}@{domain}"


def base_address(address: str) -> str:
    """The address a plus-address (a token address too) belongs to, lowercased:
    ``Support+12-abc@Example.com`` → ``support@example.com``."""
    local, _, domain = address.lower().partition("@")
    return f"{local.split('+', 1)[0]}@{domain}"


def read_token(address: str, secret: bytes) -> tuple[str, int, bool] | None:
    """(department address, ticket id, mac valid) for a token address, else None.

    A malformed or tampered token is returned with ``valid=False`` so the caller
    can log it; only a valid one may pick a ticket.
    """
    m = _TOKEN_RE.match(address.strip().lower())
    if not m:
        return None
    local, ticket, mac, domain = m.groups()
    ticket_id = int(ticket)
    valid = hmac.compare_digest(mac, _mac(secret, ticket_id))
    return f"{local}@{domain}", ticket_id, valid
