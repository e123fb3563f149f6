"""Bounces: which recipients a delivery failure names, and which mail it returns.

Strongest evidence first: the machine-readable report (:mod:`.dsn`), Exim's
X-Failed-Recipients header, then, only for mail that looks like a bounce, the
human-readable notice (:mod:`.notices`).  A new bounce format gets a module of
its own here; the words that mark a bounce live once in :mod:`.vocabulary`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mailticket.incoming.addresses import parse_addresses
from mailticket.incoming.body import Walker
from mailticket.incoming.bounces.dsn import dsn_recipients, nested_dsn_parts
from mailticket.incoming.bounces.notices import MAX_BOUNCED, listed_recipients, text_recipients
from mailticket.incoming.bounces.returned import original_ids
from mailticket.incoming.bounces.vocabulary import BOUNCE_SENDER_RE, BOUNCE_SUBJECT_RE
from mailticket.incoming.defects import Defects
from mailticket.incoming.text import dedupe

if TYPE_CHECKING:
    from mailticket.incoming.parse import ParsedMail

__all__ = ["MAX_BOUNCED", "bounced_recipients", "listed_recipients", "original_ids"]


def looks_like_bounce(mail: ParsedMail, walker: Walker) -> bool:
    """Cheap, headers only: whether the notice's wording is worth reading at all."""
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
    """Failed recipients, from the strongest evidence the mail holds."""
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
