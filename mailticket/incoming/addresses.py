"""Mailboxes from address headers (From, To, Cc, Reply-To, Delivered-To ...).

Display names may hold anything an encoded word can carry, so names are decoded only
after the list is split, and a From with one ``<addr-spec>`` is read the way DMARC
and mail clients read it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import getaddresses

from mailticket.incoming.defects import Defects
from mailticket.incoming.encoded_words import decode_header_value, mask_words
from mailticket.incoming.text import clean, one_line

#: Longer display names are cut; longer addresses (RFC 5321 allows 254) dropped.
MAX_NAME_LEN = 300
MAX_ADDR_LEN = 320


@dataclass(frozen=True)
class Address:
    """One mailbox from an address header."""

    name: str
    addr: str

    @property
    def key(self) -> str:
        """Lowercased address, the form used for every comparison."""
        return self.addr.lower()

    def __str__(self) -> str:
        return f"{self.name} <{self.addr}>" if self.name else self.addr


def _address(name: str, addr: str, ctx: Defects) -> Address | None:
    """One :class:`Address` from a raw (already unmasked) name and address, or None."""
    addr = "".join(clean(addr).split())
    if not addr:
        return None
    if len(addr) > MAX_ADDR_LEN:
        ctx.note(f"address longer than {MAX_ADDR_LEN} characters dropped: {addr[:60]!r}…")
        return None
    name = one_line(decode_header_value(name, ctx.defects))
    if len(name) > MAX_NAME_LEN:
        name = name[:MAX_NAME_LEN].rstrip()
    return Address(name, addr)


def parse_addresses(values: list[str], ctx: Defects) -> list[Address]:
    """Split address headers into :class:`Address` objects.

    Encoded words are hidden behind placeholders while the address list is
    split and decoded afterwards: a display name like
    ``=?utf-8?q?Doe,_J_<x@y>?=`` must stay a name, never become an address.
    """
    out: list[Address] = []
    for value in values:
        masked, unhide = mask_words(value)
        try:
            pairs = getaddresses([masked])
        except Exception as exc:  # noqa: BLE001
            ctx.note(f"unparseable address header {value[:80]!r}: {exc}")
            continue
        for name, addr in pairs:
            a = _address(unhide(name), unhide(addr), ctx)
            if a is not None:
                out.append(a)
    return out


# Quoted strings and the angle-bracketed addr-specs outside them.
_QUOTED_RE = re.compile(r'"(?:[^"\\]|\\.)*"?')
_ANGLE_ADDR_RE = re.compile(r"<([^<>@]*+@[^<>]*+)>")


def first_address(values: list[str] | None, ctx: Defects) -> Address | None:
    """The one mailbox of From or Sender.

    When the header holds exactly one ``<addr-spec>`` (outside quoted strings
    and encoded words), that address wins, as in DMARC checks and in what mail
    clients display: ``Eve: x@evil.test <c@cust.test>`` is from c@cust.test,
    whatever ``getaddresses`` makes of the unquoted colon (a group) or of
    U+2028 and U+0085 in the display name.
    """
    if not values:
        return None
    value = values[0]
    masked, unhide = mask_words(value)
    unquoted = _QUOTED_RE.sub(lambda m: " " * len(m.group(0)), masked)
    angles = _ANGLE_ADDR_RE.findall(unquoted)
    if len(angles) == 1:
        start = unquoted.index("<" + angles[0] + ">")
        name = masked[:start].strip()
        if len(name) >= 2 and name[0] == name[-1] == '"':
            name = re.sub(r"\\(.)", r"\1", name[1:-1])
        addr = masked[start + 1 : start + 1 + len(angles[0])]
        return _address(unhide(name), unhide(addr), ctx)
    addrs = parse_addresses(values[:1], ctx)
    return addrs[0] if addrs else None


def parse_return_path(values: list[str] | None) -> str | None:
    if values is None:
        return None
    value = clean(values[0]).strip()
    m = re.search(r"<([^<>]*)>", value)
    inner = m.group(1) if m else value
    return "".join(inner.split())


def delivered_to(headers: dict[str, list[str]], ctx: Defects) -> list[str]:
    out: list[str] = []
    for key in ("delivered-to", "x-original-to", "envelope-to", "x-envelope-to"):
        for a in parse_addresses(headers.get(key, []), ctx):
            k = a.key
            if k not in out:
                out.append(k)
    return out


_DOMAIN_RE = re.compile(r"[^@\s<>\"]+")


def usable(a: Address | str | None) -> bool:
    """An address a reply can be sent to: a local part (quoted ones hold '@' and ',')
    and a domain."""
    local, _, domain = (a.addr if isinstance(a, Address) else a or "").rpartition("@")
    return bool(local) and _DOMAIN_RE.fullmatch(domain) is not None
