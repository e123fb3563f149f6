"""Failure notices in words: who could not be reached, read from the human-readable text.

Patterns for the formats MTAs write (Postfix, qmail, Sendmail, Exim, Exchange,
GroupWise, Yahoo, SMTP32 ...) and, failing those, every address in the notice that
is clearly not someone else (the bounce's own sender and recipients, postmasters,
the original's headers).  A delay warning names no failed address.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from mailticket.incoming.addresses import MAX_ADDR_LEN
from mailticket.incoming.bounces.vocabulary import BOUNCE_SENDER_RE, ROLE_LOCALPARTS

if TYPE_CHECKING:
    from mailticket.incoming.parse import ParsedMail


#: At most this many failed recipients are kept per bounce.
MAX_BOUNCED = 100
#: Only this much of a bounce's notice is read.
_NOTICE_CHARS = 20_000
_NOTICE_LINES = 400
_NOTICE_LINE_CHARS = 1000
#: An unknown format's notice is read only when it names at most this many addresses.
_MAX_GUESSED = 3


# -- the human-readable notice --------------------------------------------------

# Starts only where a run of local-part characters starts, and never backtracks
# into it: a 20,000-character line must not cost quadratic time.
_ADDR = (
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9_%+-][A-Za-z0-9._%+-]*+@[A-Za-z0-9-]++(?:\.[A-Za-z0-9-]++)+"
)
_ADDR_RE = re.compile(_ADDR)

# Where the returned message starts: "--- Below this line is a copy of the
# message.", "------ This is a copy of the message, including all the headers.",
# "Original message follows.", "----- Message header follows -----", an inline
# header block ...
_RETURNED_PHRASE_RE = re.compile(
    r"copy of (?:the|your)\b.{0,40}\bmessage|(?:original|returned|unsent|undelivered|source)"
    r" (?:message|mail)\b|message (?:header|headers|text|body)s?\b.{0,20}\bfollow"
    r"|headers? of the (?:original|source)|header and top|message reads|forwarded message"
    r"|mensaje original|lines of (?:the|your) (?:original )?message",
    re.IGNORECASE,
)
_RETURNED_TAIL_RE = re.compile(
    r"(?:follows?|following|below|attached|as follows)\b|:\s*$|\(in part\)", re.IGNORECASE
)
_DECORATED_RE = re.compile(r"^\s*(?:[-=|*_~]{2,}|\[)")
_INLINE_HEADER_RE = re.compile(
    r"^>?(?:received|return-path|message-id|dkim-signature|delivered-to):", re.IGNORECASE
)


def _notice_lines(text: str) -> list[str]:
    """The lines of a bounce before its returned message."""
    out: list[str] = []
    for line in text[:_NOTICE_CHARS].split("\n")[:_NOTICE_LINES]:
        line = line[:_NOTICE_LINE_CHARS]
        if _INLINE_HEADER_RE.match(line):
            break
        if _INTRO_RE.search(line):  # "did NOT receive a copy of your message:"
            out.append(line)
            continue
        if (
            len(line) < 120
            and _RETURNED_PHRASE_RE.search(line)
            and (_DECORATED_RE.match(line) or _RETURNED_TAIL_RE.search(line))
        ):
            break
        out.append(line)
    return out


_DELAY_RE = re.compile(
    r"\bdelay|not yet been delivered|has not been delivered yet|will (?:continue|keep)"
    r" (?:to )?(?:try|attempt)|delivery attempts will continue|will be retried|(?:is|just)"
    r" a warning|warning message only|advisory|postponed|still (?:being )?(?:tried|trying)",
    re.IGNORECASE,
)
_PERMANENT_RE = re.compile(
    r"permanent|fatal|given up|giving up|not going to try again|no longer valid", re.IGNORECASE
)
#: Phrases of a failure notice (reading an unknown format needs one).
_FAILURE_RE = re.compile(
    r"could ?n[o']t be (?:delivered|reached)|(?:was|were|is) not delivered|not be delivered"
    r"|undeliverable|delivery (?:has )?failed|delivery failure|(?:failed|unable) to deliver"
    r"|(?:could ?n[o']t|cannot|can't|unable to|not able to|wasn't able to) deliver"
    r"|did not reach|permanent (?:fatal )?error|failed recipient|user unknown|unknown user"
    r"|no such user|not (?:a )?(?:valid|known) (?:user|recipient)|mailbox (?:is )?"
    r"(?:full|unavailable)|over quota|quota exceeded|returned mail|n'a pas pu|non remis",
    re.IGNORECASE,
)

# A block of failed addresses follows: "The following addresses had permanent
# fatal errors", "did not reach the following recipient(s):", "Delivery has
# failed to these recipients or groups:", "Your message could not be delivered to"
_INTRO_RE = re.compile(
    r"following (?:\w+ )?(?:recipients?|address(?:\(?es\)?)?|destinations?|users?)\b"
    r"|(?:recipients?|address(?:\(?es\)?)?) (?:failed|follows?)\b|failed (?:recipients|address)"
    r"|permanent fatal errors|delivery has failed to|these recipients"
    r"|(?:could ?n[o']t|cannot|can't|unable to|not able to|wasn't able to|not) (?:be )?"
    r"deliver(?:ed)?(?: your)?(?: message| mail)? to\b|did not reach|could not be reached"
    r"|addressed to (?:e-?mail )?address|n'a pas pu (?:etre|être) d[eé]livr[eé] a",
    re.IGNORECASE,
)
# The failed address opens the line: "<a@b>:", "a@b:", "  a@b", "* a@b", "[a@b]: 550".
_LEAD_ADDR_RE = re.compile(rf"^[\s>*\-\u2022]*[\[<\"'(]*(?:smtp[:=])?({_ADDR})", re.IGNORECASE)
_POSTFIX_RE = re.compile(rf"^\s*<({_ADDR})>:")
_TRAILING_RE = re.compile(
    rf"({_ADDR})>?[ \t]*[-:]?[ \t]*(?:no such user|user unknown|unknown user|does not exist"
    r"|is unavailable|mailbox (?:is )?(?:full|unavailable))",
    re.IGNORECASE,
)
# In a failure list: "Failed Recipient: a@b", "Recipient: [SMTP:a@b]".
_LABEL_LINE_RE = re.compile(
    rf"^\s*[A-Za-z][\w .-]{{0,30}}:[ \t]*[\[<\"']*(?:smtp:)?({_ADDR})", re.I
)
_ADDR_COLON_RE = re.compile(r"[>\]\"']*[ \t]*:[ \t]*$")
# A bare user name alone on its line, right after the intro (AOL: "\tscreenname").
_BARE_LOCAL_RE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]{0,63})\s*$")
# The failed address follows a label on the same line.
_LABEL_RE = re.compile(
    r"(?:failed recipient|intended recipient|undeliverable address|unknown user"
    r"|invalid final delivery userid|delivery failed \d+ attempts|undeliverable +to"
    r"|originally addressed to|error-for|generated from|expanded from|rcpt to"
    r"|(?:could ?n[o']t|cannot|can't|unable to|not able to|wasn't able to|not) (?:be )?"
    r"deliver(?:ed)?(?: your)?(?: message| mail)? to|did not reach the following recipient"
    r"(?:\(s\))?|your message to|message to|local mailbox|quota violation for"
    r"|addressed(?: to)?,?|mailbox (?:is )?full|user unknown|unknown user|smtp[:=]"
    r"|\b[45]\d\d[ -](?:[45]\.\d{1,3}\.\d{1,3} +)?)"
    rf"[ \t]*:?[ \t]*[\[<\"'(]*[ \t]*({_ADDR})",
    re.IGNORECASE,
)
# Lines whose addresses are never the failed recipient.
_NOT_RECIPIENT_LINE_RE = re.compile(
    r"^[\s>*|-]*(?:from|sender|reply-to|cc|return-path|errors-to|message-id|received"
    r"|by|with|id)\b\s*:?|contact|mailto:|https?://|\bfrom\s*<",
    re.IGNORECASE,
)


def _anchored(lines: list[str], from_domain: str) -> tuple[list[str], list[str]]:
    """Addresses the notice names as failed, by the formats' own wording.

    Returns (listed, labelled): addresses on lines of their own in a failure
    list ("<a@b>:", a block after "The following addresses failed:"), and
    addresses after a label within a sentence ("Unknown user: a@b").
    """
    listed: list[str] = []
    labelled: list[str] = []
    n = len(lines)
    for i, line in enumerate(lines):
        labelled.extend(m.group(1) for m in _LABEL_RE.finditer(line))
        labelled.extend(m.group(1) for m in _TRAILING_RE.finditer(line))
        m = _LEAD_ADDR_RE.match(line)
        if m and _ADDR_COLON_RE.match(line, m.end()):
            listed.append(m.group(1))  # qmail, Yahoo, Exim: "<a@b>:" or "a@b:" alone
        elif m := _POSTFIX_RE.match(line):
            listed.append(m.group(1))  # Postfix: "<a@b>: host x said: 550 ..."
        intro = _INTRO_RE.search(line)
        if intro is None:
            continue
        tail = line[intro.end() :]
        rest = _LEAD_ADDR_RE.match(tail.lstrip(" \t:.-"))
        if rest:  # "recipient: a@b" lists it; "delivered to a@b." is a sentence
            (listed if tail.lstrip().startswith(":") else labelled).append(rest.group(1))
        # The block: addresses opening the lines below, up to the next blank
        # line; at most two other lines (the intro's tail) before the first.
        got = skipped = 0
        prev = line
        for nxt in lines[i + 1 : min(n, i + 40)]:
            if not nxt.strip():
                if got:
                    break
                continue
            m = _LEAD_ADDR_RE.match(nxt) or (
                None if _NOT_RECIPIENT_LINE_RE.search(nxt) else _LABEL_LINE_RE.match(nxt)
            )
            if m:
                listed.append(m.group(1))
                got += 1
            elif (
                not got
                and from_domain
                and prev.rstrip().endswith(":")
                and (b := _BARE_LOCAL_RE.match(nxt))
            ):
                listed.append(f"{b.group(1)}@{from_domain}")  # "...recipients:\n\tjoe"
                got += 1
            elif not got:
                skipped += 1
                if skipped > 2:
                    break
            prev = nxt
    return listed, labelled


def _generic(lines: list[str]) -> list[str]:
    """Every address of the notice, except on lines that name senders or contacts."""
    found: list[str] = []
    for line in lines:
        if "@" in line and not _NOT_RECIPIENT_LINE_RE.search(line):
            found.extend(_ADDR_RE.findall(line))
    return found


def _usable(mail: ParsedMail, addrs: list[str]) -> list[str]:
    """Lowercased and deduplicated, without the bounce's own sender and recipients
    and without role addresses (postmaster, mailer-daemon ...)."""
    own = {
        a.key
        for a in [mail.from_, mail.sender, *mail.to, *mail.cc, *mail.reply_to]
        if a is not None
    }
    if mail.return_path:
        own.add(mail.return_path.lower())
    out: list[str] = []
    for a in addrs:
        a = a.rstrip(".").lower()
        local = a.rpartition("@")[0]
        if a in own or local in ROLE_LOCALPARTS or len(a) > MAX_ADDR_LEN or a in out:
            continue
        out.append(a)
    return out


def _machine_sender(mail: ParsedMail) -> bool:
    """Null envelope sender, or a From / Return-Path of a mail system."""
    if mail.return_path == "" or (mail.return_path and BOUNCE_SENDER_RE.search(mail.return_path)):
        return True
    return mail.from_ is not None and bool(
        BOUNCE_SENDER_RE.search(f"{mail.from_.addr} {mail.from_.name}")
    )


def text_recipients(mail: ParsedMail) -> list[str]:
    lines = _notice_lines(mail.text)
    notice = "\n".join(lines)
    if (_DELAY_RE.search(mail.subject) or _DELAY_RE.search(notice)) and not (
        _PERMANENT_RE.search(notice)
    ):
        return []
    from_domain = ""
    if mail.from_ is not None and BOUNCE_SENDER_RE.search(mail.from_.addr):
        from_domain = mail.from_.key.rpartition("@")[2]
    listed, labelled = _anchored(lines, from_domain)
    found = _usable(mail, listed + labelled)
    if (
        not found
        and _machine_sender(mail)
        and (_FAILURE_RE.search(notice) or _FAILURE_RE.search(mail.subject))
    ):
        # An unknown format from a mail system: every address of the notice
        # that is not someone else's.  A notice that names many addresses in
        # free text is explaining something ("if a@b fails, try c@d"):
        # guessing would mark bystanders.
        found = _usable(mail, _generic(lines))
        if len(found) > _MAX_GUESSED:
            found = []
    return found[:MAX_BOUNCED]


def listed_recipients(mail: ParsedMail) -> list[str]:
    """Addresses that the text of ``mail`` lists the way delivery-failure notices do.

    Only addresses on lines of their own are counted ("<a@b>:", or a block
    after "could not be delivered to the following recipients:"), delays
    included, never the mail's own sender or recipients.  A machine sign for
    :mod:`classify`: a person mentioning an address in a sentence does not
    write that way.
    """
    listed, _ = _anchored(_notice_lines(mail.text), "")
    return _usable(mail, listed)[:MAX_BOUNCED]
