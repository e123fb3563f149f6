"""Message-IDs read from headers, and every cap on how many and how long.

Threading, deduplication and bounce matching all rest on these ids; a hostile mail
listing 70,000 of them must cost no more than an ordinary one.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from email.message import Message

from mailticket.incoming.defects import Defects
from mailticket.incoming.text import clean, dedupe

#: Message-IDs longer than this are treated as garbage.
MAX_ID_LEN = 500


#: In-Reply-To keeps its first ids; References its first (the thread root) and its
#: last ones (the nearest parents).  A mail listing 70,000 ids must not become
#: 70,000 database parameters.
MAX_IN_REPLY_TO = 5
MAX_REFERENCES = 50
#: Message-IDs kept of the mails a bounce returns (see ParsedMail.original_message_ids).
MAX_ORIGINAL_IDS = 20


_BRACKET_ID_RE = re.compile(r"<\s*([^<>\s]+?)\s*>")
_BARE_ID_RE = re.compile(r"^[^\s<>@\"(),;]+@[^\s<>@\"(),;]+$")


def extract_ids(value: str) -> list[str]:
    """All Message-IDs in ``value`` as ``<id>`` strings, in order, deduplicated.

    ``"<a@b> <c@d>"`` gives ``["<a@b>", "<c@d>"]``.  Bare ``a@b`` tokens are
    accepted only when the value has no angle brackets at all (old clients).
    """
    if not value:
        return []
    value = clean(value)
    found: list[str] = []
    if "<" in value:
        candidates: Iterable[str] = (m.group(1) for m in _BRACKET_ID_RE.finditer(value))
    else:
        candidates = (t for t in re.split(r"[\s,]+", value) if _BARE_ID_RE.match(t))
    seen: set[str] = set()
    for c in candidates:
        if len(c) > MAX_ID_LEN:
            continue
        ident = f"<{c}>"
        if ident not in seen:
            seen.add(ident)
            found.append(ident)
    return found


def synthetic_id(raw: bytes) -> str:
    return f"<{hashlib.sha256(raw).hexdigest()[:32]}@mailticket.invalid>"


def in_reply_to(values: list[str], ctx: Defects) -> list[str]:
    """In-Reply-To's ids, its first ones only."""
    return _capped(values, MAX_IN_REPLY_TO, 0, ctx)


def references(values: list[str], ctx: Defects) -> list[str]:
    """References' ids: the first (the thread root) and the last ones (nearest parents)."""
    return _capped(values, 1, MAX_REFERENCES - 1, ctx)


def _capped(values: list[str], head: int, tail: int, ctx: Defects) -> list[str]:
    """The distinct ids of a header, only the first ``head`` and last ``tail`` of them."""
    ids = dedupe(i for v in values for i in extract_ids(v))
    if len(ids) > head + tail:
        ctx.note(f"{len(ids)} Message-IDs in one header: kept {head + tail}")
        ids = ids[:head] + (ids[-tail:] if tail else [])
    return ids


def content_id(part: Message) -> str | None:
    """The part's Content-ID as ``<id>``, cut to the Message-ID length cap."""
    value = part.get("content-id")
    if not value:
        return None
    value = "".join(clean(str(value)).split())
    if not value:
        return None
    if not value.startswith("<"):
        value = f"<{value}>"
    return value[: MAX_ID_LEN + 2]
