"""Delivery-status reports (RFC 3464): the machine-readable part of a bounce.

The strongest evidence of who could not be reached, also when the report comes
forwarded inside a message/rfc822.
"""

from __future__ import annotations

import re
from email.message import Message

from mailticket.incoming.addresses import MAX_ADDR_LEN
from mailticket.incoming.body import MAX_DEPTH, part_payload
from mailticket.incoming.charsets import decode_bytes, fix8bit
from mailticket.incoming.defects import Defects
from mailticket.incoming.text import FOLD_RE, clean

_FAILED_ACTIONS = ("failed", "failure", "error")  # RFC 3464 says "failed"; MTAs vary
_DSN_FIELD_RE = re.compile(r"([!-9;-~]+)[ \t]*:[ \t]*(.*)")
_RECIPIENT_FIELDS = ("original-recipient", "final-recipient")


def _dsn_text(part: Message, ctx: Defects) -> str:
    """The text of a message/delivery-status part, however the parser stored it."""
    payload = part.get_payload()
    if isinstance(payload, list):
        lines: list[str] = []
        for block in payload[:1000]:
            if isinstance(block, Message):
                lines.extend(
                    f"{fix8bit(str(k))}: {fix8bit(str(v))}" for k, v in block.raw_items()
                )
                lines.append("")
        return "\n".join(lines)
    return decode_bytes(part_payload(part, ctx, "delivery-status")[:100_000])[0]


def _dsn_records(text: str) -> list[dict[str, str]]:
    """Field blocks of a delivery-status text, lowercase names.

    Blank and whitespace-only lines separate blocks (some MTAs write a space on
    the separating line, which RFC 5322 would read as a fold); a second
    Final-Recipient or Original-Recipient in one block starts a new one too.
    """
    records: list[dict[str, str]] = []
    cur: dict[str, str] = {}
    last: str | None = None
    for line in FOLD_RE.split(text)[:5000]:
        if not line.strip():
            if cur:
                records.append(cur)
            cur, last = {}, None
        elif line[0] in " \t":
            if last is not None:
                cur[last] = f"{cur[last]} {line.strip()}"
        elif m := _DSN_FIELD_RE.match(line):
            name = m.group(1).lower()
            if name in _RECIPIENT_FIELDS and name in cur:
                records.append(cur)
                cur = {}
            last = None
            if name not in cur:
                cur[name], last = m.group(2).strip(), name
        else:
            last = None
    if cur:
        records.append(cur)
    return records


def _dsn_address(value: str | None) -> str | None:
    """``rfc822; <A@b>`` → ``a@b``; None unless it looks like an address."""
    if not value:
        return None
    addr = "".join(clean(value.rsplit(";", 1)[-1]).split()).strip("<>").lower()
    if "@" not in addr or len(addr) > MAX_ADDR_LEN:
        return None
    return addr


def dsn_recipients(parts: list[Message], ctx: Defects) -> tuple[list[str], bool]:
    """(failed recipients, whether the reports had any per-recipient block)."""
    out: list[str] = []
    reported = False
    for part in parts:
        for rec in _dsn_records(_dsn_text(part, ctx)):
            addr = _dsn_address(rec.get("original-recipient")) or _dsn_address(
                rec.get("final-recipient")
            )
            if addr is None:
                continue
            reported = True
            action = rec.get("action", "failed").strip().lower()
            if action.startswith(_FAILED_ACTIONS) and addr not in out:
                out.append(addr)
    return out, reported


def nested_dsn_parts(embedded: list[Message]) -> list[Message]:
    """Delivery-status parts inside attached messages (a bounce that was forwarded)."""
    found: list[Message] = []
    stack = [(m, 0) for m in reversed(embedded)]
    visited = 0
    while stack and visited < 1000:
        part, depth = stack.pop()
        visited += 1
        payload = part.get_payload()
        if part.get_content_type() == "message/delivery-status":
            found.append(part)
        elif isinstance(payload, list) and depth < MAX_DEPTH:
            stack.extend((p, depth + 1) for p in reversed(payload) if isinstance(p, Message))
    return found
