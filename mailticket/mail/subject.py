"""Subject lines: reply/forward prefixes in many languages, and our ticket tag.

Mail clients prepend a localised prefix on every reply or forward ("Re:", "AW:",
"SV:", "Réf. :", "Отг:" …) and some number them ("Re[2]:").  We strip all of them
so a ticket's subject is the customer's words, and we write exactly one "Re: "
ourselves, so prefixes never stack.
"""

from __future__ import annotations

import re

# Reply and forward prefixes seen from mail clients, by language.  Single letters
# (Italian "R:", "I:") are left out: too many real subjects start that way.
PREFIXES = (
    "re", "fw", "fwd",                  # English and most clients
    "aw", "wg",                         # German: Antwort, Weitergeleitet
    "sv", "vb", "vs",                   # Swedish/Norwegian/Danish svar, vidarebefordrat; Finnish vs
    "antw", "doorst",                   # Dutch
    "rv", "rsp", "reenv",               # Spanish reenviar, respuesta
    "rif", "inoltro",                   # Italian
    "réf", "ref", "tr", "transf",       # French (Outlook "TR:" is transfert)
    "отг", "пр", "нпр",                 # Bulgarian: отговор, препратено
    "ynt", "ilt",                       # Turkish
    "odp", "pd",                        # Polish
    "res", "enc",                       # Portuguese
    "atb", "pārs",                      # Latvian
    "vá", "továbbítás",                 # Hungarian
    "回复", "答复", "转发", "回覆", "轉寄",  # Chinese
)

_PREFIX_RE = re.compile(
    r"^\s*(?:" + "|".join(re.escape(p) for p in sorted(PREFIXES, key=len, reverse=True)) + r")"
    r"\.?\s*(?:\[\d+\]|\(\d+\)|\^\d+)?\s*[:：]\s*",
    re.IGNORECASE,
)
# "[Support #123]" — a word (the department's tag) and a number.
TAG_RE = re.compile(r"\[\s*([^\[\]#]{1,40}?)\s+#(\d{1,12})\s*\]")


def strip_prefixes(subject: str) -> str:
    """Remove every leading reply/forward prefix, however many and in whatever language."""
    previous = None
    while previous != subject:
        previous = subject
        subject = _PREFIX_RE.sub("", subject, count=1)
    return subject.strip()


def find_tags(subject: str) -> list[tuple[str, int]]:
    """All ticket tags in a subject, as (word, ticket id), leftmost first."""
    return [(m.group(1), int(m.group(2))) for m in TAG_RE.finditer(subject)]


def base_subject(subject: str) -> str:
    """The subject without prefixes and tags: what we store as the ticket's subject."""
    previous = None
    while previous != subject:
        previous = subject
        subject = strip_prefixes(TAG_RE.sub(" ", strip_prefixes(subject)))
        subject = re.sub(r"\s{2,}", " ", subject).strip()
    return subject


def stored_subject(subject: str) -> str:
    """What a new ticket keeps as its subject (and its FAQ suggestion matches): the
    base subject, cut to the column's 1,000 characters."""
    return base_subject(subject)[:1000]


def tag(word: str, ticket_id: int) -> str:
    return f"[{word} #{ticket_id}]"


def reply_subject(word: str, ticket_id: int, subject: str) -> str:
    """"Re: [Support #12] Printer on fire" — one prefix, one tag, whatever came in."""
    base = base_subject(subject) or "(no subject)"
    return f"Re: {tag(word, ticket_id)} {base}"


def ticket_subject(word: str, ticket_id: int, subject: str) -> str:
    """"[Support #12] Printer on fire" for mails that are not replies (notifications)."""
    return f"{tag(word, ticket_id)} {base_subject(subject) or '(no subject)'}"
