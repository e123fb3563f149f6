"""The words that mark a bounce, written once for the parser and the classifier.

:mod:`mailticket.incoming.bounces` reads failed recipients only from mail that looks
like a bounce, and :mod:`mailticket.incoming.classify` decides that a mail is one;
both ask these lists, so a phrase learnt from a new MTA counts for both.
"""

from __future__ import annotations

import re

#: Local parts of the senders of delivery reports: enough, alone, to call From a bounce.
DAEMON_LOCALPARTS = frozenset({"mailer-daemon", "mailer_daemon", "mailerdaemon", "postmaster"})
#: Also bounce senders, but only evidence next to other signs (Exchange's ndr@, MDaemon).
BOUNCE_LOCALPARTS = DAEMON_LOCALPARTS | {"ndr", "mdaemon"}
#: Role addresses a failure notice names that are never the failed recipient.
ROLE_LOCALPARTS = BOUNCE_LOCALPARTS | {
    "abuse", "hostmaster", "webmaster", "root", "noreply", "no-reply", "nobody",
}

#: A mail system in a From, Sender or Return-Path (address or display name).
BOUNCE_SENDER_RE = re.compile(
    r"mailer[-_. ]?daemon|mail[-_. ]?daemon|\bmdaemon|postmaster|^ndr@|^prvs=.*=ndr@"
    r"|mail[-_. ]?delivery|delivery[-_. ]?(?:sub)?system|mail (?:system|administrator)"
    r"|system[-_. ]?administrator|antivirus|smtp|mail[-_. ]?service|jetmail|mailserver",
    re.IGNORECASE,
)

#: Subjects of delivery reports, failures and delays alike, as MTAs write them.
DSN_SUBJECT_WORDS = (
    r"undeliver(?:ed|able)\b"  # Postfix "Undelivered Mail …", Exchange "Undeliverable:"
    r"|delivery status notification"  # Gmail, Exchange
    r"|mail delivery failed"  # Exim
    r"|returned mail\b"  # Sendmail
    r"|delivery failure\b"
    r"|failure notice\b"  # qmail
    r"|mail system error"
    r"|non[- ]?remis"  # fr Exchange "Non remis :"
    r"|unzustellbar"  # de Exchange
    r"|olevererbart"  # sv Exchange
    r"|no se puede entregar"  # es Exchange
    r"|message not delivered"
    r"|delivery has failed"
    r"|mail could not be delivered"
    r"|non[- ]?delivery"
    r"|permanent delivery failure"
    r"|delivery notification: delivery has failed"
    r"|mail delivery warning"  # delays are delivery reports too
    r"|delivery delayed"
    r"|delayed mail"
    r"|warning: could not send message"
)
#: Looser phrases: enough for the parser to read a notice for failed addresses, which
#: needs more evidence to name any; a subject that merely has them is no bounce.
_LOOSE_SUBJECT_WORDS = (
    r"undeliver|not (?:be )?deliver|non[- ]?deliver|deliver(?:y|ed)?\b.{0,25}"
    r"(?:fail|status|problem|notif|report|error|warning|delay)"
    r"|fail(?:ed|ure)\b.{0,25}(?:deliver|mail|notice)|returned (?:mail|message)"
    r"|olevererbar|mail (?:system )?error"
    r"|user unknown|unknown user|could not be delivered|rejected mail|mail not delivered"
)
#: Anywhere in the subject: worth reading the notice.
BOUNCE_SUBJECT_RE = re.compile(f"{DSN_SUBJECT_WORDS}|{_LOOSE_SUBJECT_WORDS}", re.IGNORECASE)
