"""Bounces: which recipients a delivery failure names, and which mail it returns.

Strongest evidence first: the machine-readable report (:mod:`.dsn`), Exim's
X-Failed-Recipients header, then, only for mail that looks like a bounce, the
human-readable notice (:mod:`.notices`).  A new bounce format gets a module of
its own here; the words that mark a bounce live once in :mod:`.vocabulary`.
"""

from __future__ import annotations

import re
from email.message import Message
from typing import TYPE_CHECKING

from mailticket.incoming.addresses import parse_addresses
from mailticket.incoming.body import Walker, part_payload
from mailticket.incoming.bounces.dsn import dsn_recipients, nested_dsn_parts
from mailticket.incoming.bounces.notices import MAX_BOUNCED, listed_recipients, text_recipients
from mailticket.incoming.bounces.vocabulary import BOUNCE_SENDER_RE, BOUNCE_SUBJECT_RE
from mailticket.incoming.defects import Defects
from mailticket.incoming.message_ids import MAX_ID_LEN, MAX_ORIGINAL_IDS, extract_ids
from mailticket.incoming.text import FOLD_RE, dedupe

if TYPE_CHECKING:
    from mailticket.incoming.parse import ParsedMail

__all__ = ["MAX_BOUNCED", "bounced_recipients", "listed_recipients", "original_ids"]


def looks_like_bounce(mail: ParsedMail, walker: Walker) -> bool:
    if mail.return_path == "" or walker.dsn_parts or mail.content_type == "multipart/report":
        return True
    for who in (mail.from_, mail.sender):
        if who is not None and BOUNCE_SENDER_RE.search(f"{who.addr} {who.name}"):
            return True
    if mail.return_path and BOUNCE_SENDER_RE.search(mail.return_path):
        return True
    return bool(BOUNCE_SUBJECT_RE.search(mail.subject[:500]))


def bounced_recipients(
    mail: ParsedMail, walker: Walker, hv: dict[str, list[str]], ctx: Defects
) -> list[str]:
    found, reported = dsn_recipients(walker.dsn_parts, ctx)
    if reported:
        return found[:MAX_BOUNCED]
    failed = parse_addresses(hv.get("x-failed-recipients", []), ctx)
    if failed:  # Exim names them in a header
        return dedupe(a.key for a in failed)[:MAX_BOUNCED]
    if walker.embedded:
        found, reported = dsn_recipients(nested_dsn_parts(walker.embedded), ctx)
        if reported:
            return found[:MAX_BOUNCED]
    if not looks_like_bounce(mail, walker):
        return []
    return text_recipients(mail)


_BODY_MSGID_RE = re.compile(r"(?im)^[ >]*message-id:[ \t]*(<[^<>\s]+>)")


def original_ids(embedded: list[Message], text: str, ctx: Defects) -> list[str]:
    out: dict[str, None] = {}
    for sub in embedded:
        values: list[str] = []
        if sub.get_content_type() == "text/rfc822-headers":
            data = part_payload(sub, ctx, "rfc822-headers")
            for line in FOLD_RE.sub("\n", data.decode("latin-1")).split("\n"):
                if line[:11].lower() == "message-id:":
                    values.append(line[11:])
        else:
            values = [str(v) for v in sub.get_all("message-id", [])]
        for v in values:
            out.update(dict.fromkeys(extract_ids(v)))
        if len(out) >= MAX_ORIGINAL_IDS:
            break
    if not out and text:
        for m in _BODY_MSGID_RE.finditer(text[:200_000]):
            if len(m.group(1)) <= MAX_ID_LEN:
                out[m.group(1)] = None
                if len(out) >= MAX_ORIGINAL_IDS:
                    break
    return list(out)[:MAX_ORIGINAL_IDS]
