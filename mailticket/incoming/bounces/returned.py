"""The Message-IDs of the mail a bounce or an auto-reply returns.

They let a bounce be attached to the ticket it concerns; only meaningful for
machine mail, since anyone can write a "Message-ID:" line.
"""

from __future__ import annotations

import re
from email.message import Message

from mailticket.incoming.body import part_payload
from mailticket.incoming.defects import Defects
from mailticket.incoming.message_ids import MAX_ID_LEN, MAX_ORIGINAL_IDS, extract_ids
from mailticket.incoming.text import FOLD_RE

_BODY_MSGID_RE = re.compile(r"(?im)^[ >]*message-id:[ \t]*(<[^<>\s]+>)")


def original_ids(embedded: list[Message], text: str, ctx: Defects) -> list[str]:
    """Ids of the returned mail: attached messages or headers, else body lines."""
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
