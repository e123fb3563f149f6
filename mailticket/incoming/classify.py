"""Decide whether a parsed mail was written by a person or by a machine.

mailticket must never answer a machine (design: "Never answer a machine"):
auto-responding to an out-of-office, a bounce or a mailing list starts mail
loops and spams lists.  Classification is an ordered table of small pure rules;
the first rule that matches decides, and its name and reason go to the log, so
"why did this customer get no acknowledgement?" has a one-line answer.

Rules are ordered strongest first: our own mail, then delivery failures, then
auto-replies, then list traffic, then weak envelope/sender hints.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from mailticket.incoming.addresses import Address
from mailticket.incoming.bounces import listed_recipients
from mailticket.incoming.bounces.vocabulary import (
    BOUNCE_LOCALPARTS,
    DAEMON_LOCALPARTS,
    DSN_SUBJECT_WORDS,
)
from mailticket.incoming.parse import ParsedMail

__all__ = ["RULES", "Kind", "Rule", "Verdict", "classify", "own_key"]


class Kind(StrEnum):
    """What sent the mail; everything but CUSTOMER is a machine (or ourselves)."""

    CUSTOMER = "customer"
    AUTO_REPLY = "auto_reply"
    BOUNCE = "bounce"
    LIST = "list"
    OWN = "own"


@dataclass(frozen=True)
class Verdict:
    """The outcome of :func:`classify`, with the deciding rule for the logs."""

    kind: Kind
    rule: str
    reason: str

    @property
    def is_machine(self) -> bool:
        """True when mailticket must not auto-respond or relay in a loop."""
        return self.kind is not Kind.CUSTOMER


@dataclass(frozen=True)
class _Ctx:
    own: frozenset[str]  # own addresses, plus-tags removed, lowercase
    loop_header: str  # lowercase header name
    instance: str | None  # our loop-header value, casefolded; None: any value is ours


#: A rule returns a human-readable reason when it matches, else None.
RuleFn = Callable[[ParsedMail, _Ctx], str | None]


@dataclass(frozen=True)
class Rule:
    """One row of the classification table."""

    name: str
    kind: Kind
    fn: RuleFn


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def own_key(addr: str) -> str:
    """Lowercased address with any "+tag" removed from the local part."""
    addr = addr.strip().lower()
    local, at, domain = addr.rpartition("@")
    if not at:
        return addr
    return f"{local.split('+', 1)[0]}@{domain}"


@lru_cache(maxsize=64)
def _own_set(own_addresses: frozenset[str]) -> frozenset[str]:
    return frozenset(own_key(a) for a in own_addresses if a)


def _first(mail: ParsedMail, name: str) -> str | None:
    values = mail.headers.get(name)
    return values[0] if values else None


def _short(value: str, limit: int = 80) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _localpart(addr: Address | None) -> str:
    if addr is None:
        return ""
    local = addr.key.rpartition("@")[0] or addr.key
    return local.split("+", 1)[0]


def _fold(text: str) -> str:
    """Casefolded, accents removed: "Réponse" and "Reponse" compare equal."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _param(value: str, name: str) -> str | None:
    m = re.search(rf"(?i)(?:^|;)\s*{name}\s*=\s*\"?([^\";]*)", value)
    return m.group(1).strip().lower() if m else None


# ---------------------------------------------------------------------------
# OWN
# ---------------------------------------------------------------------------


def _loop_header(mail: ParsedMail, ctx: _Ctx) -> str | None:
    """Our own stamp only: another installation's is a stranger's mail, judged by the
    other rules (its auto-responses say Auto-Submitted, its agents' answers do not)."""
    for value in mail.headers.get(ctx.loop_header, ()):
        if ctx.instance is None or value.strip().casefold() == ctx.instance:
            return f"carries our loop header ({_short(value, 60)})"
    return None


def _own_address(mail: ParsedMail, ctx: _Ctx) -> str | None:
    if mail.from_ is not None and own_key(mail.from_.addr) in ctx.own:
        return f"From is our own address {mail.from_.key}"
    return None


# ---------------------------------------------------------------------------
# BOUNCE
# ---------------------------------------------------------------------------


def _dsn_report(mail: ParsedMail, ctx: _Ctx) -> str | None:
    if mail.content_type != "multipart/report":
        return None
    rtype = _param(_first(mail, "content-type") or "", "report-type")
    if rtype == "delivery-status":
        return "Content-Type: multipart/report; report-type=delivery-status"
    return None


def _daemon_from(mail: ParsedMail, ctx: _Ctx) -> str | None:
    if mail.from_ is not None and _localpart(mail.from_) in DAEMON_LOCALPARTS:
        return f"From is {mail.from_.key}"
    # Some MTAs write the bounce's envelope sender as MAILER-DAEMON, not <>.
    rp = (mail.return_path or "").lower()
    if rp.rpartition("@")[0] == "mailer-daemon" or rp == "mailer-daemon":
        return f"Return-Path is {_short(rp, 60)}"
    return None


def _failed_recipients(mail: ParsedMail, ctx: _Ctx) -> str | None:
    value = _first(mail, "x-failed-recipients")
    if value is None:
        return None
    return f"X-Failed-Recipients: {_short(value)}"


# The phrase opens the subject ("Undeliverable: Your order"), or closes it after
# the original subject, as some gateways write it ("Re: Your order : non remis
# (delivery failed)").
_DSN_SUBJECT_RE = re.compile(rf"^\s*(?:{DSN_SUBJECT_WORDS})", re.IGNORECASE)
_DSN_SUBJECT_SUFFIX_RE = re.compile(
    rf"[:(\[-]\s*(?:{DSN_SUBJECT_WORDS}|delivery failed)[^:]{{0,40}}$", re.IGNORECASE
)
# Where the returned original starts inside a plain-text bounce.
_EMBEDDED_HEADERS_RE = re.compile(r"(?im)^[ \t>]*(?:received: from|return-path: *<|message-id: *<)")
_RETURNED_TYPES = frozenset({"message/rfc822", "text/rfc822-headers", "message/delivery-status"})


def _returns_a_message(mail: ParsedMail) -> bool:
    """The mail carries a returned message: attached, or its headers quoted in the text."""
    if any(a.content_type in _RETURNED_TYPES for a in mail.attachments):
        return True
    return bool(_EMBEDDED_HEADERS_RE.search(mail.text[:50_000]))


def _bounce_sender(mail: ParsedMail) -> str | None:
    """ndr@, postmaster@, mailer-daemon@, MDaemon@, or a BATV ``prvs=…=ndr@`` envelope."""
    if mail.from_ is not None and _localpart(mail.from_) in BOUNCE_LOCALPARTS:
        return f"From is {mail.from_.key}"
    rp = (mail.return_path or "").lower()
    local = rp.rpartition("@")[0]
    if local.startswith("prvs=") or local.startswith("btv1=="):
        return f"Return-Path is {_short(rp, 60)}"
    if local in BOUNCE_LOCALPARTS:
        return f"Return-Path is {_short(rp, 60)}"
    return None


def _bounce_evidence(mail: ParsedMail) -> str | None:
    """Why a delivery-report-looking mail is not a person writing about one."""
    if mail.return_path == "":
        return "empty Return-Path"
    who = _bounce_sender(mail)
    if who:
        return who
    if _returns_a_message(mail):
        return "returns the original message"
    listed = listed_recipients(mail)
    if listed:
        return f"lists failed recipient {_short(listed[0], 60)}"
    return None


# "Fwd: Undeliverable: …" is a person passing a bounce on: a customer's mail.
_FORWARD_RE = re.compile(r"^\s*(?:fwd?|wg|tr|rv|enc|vl|vs|doorst|i)\s*:", re.IGNORECASE)


def _dsn_subject(mail: ParsedMail, ctx: _Ctx) -> str | None:
    """A delivery-report subject, backed by evidence that a machine wrote it.

    Bounces are sent from the null sender, but a list or gateway that forwards
    them puts its own Return-Path on them, and some gateways send theirs from
    an ordinary address: the subject then needs one more sign (the returned
    original, a bounce sender, failed recipients listed the way notices list
    them).  A customer writing "Delivery failure" about a parcel has none of
    them.
    """
    subject = mail.subject
    if not (_DSN_SUBJECT_RE.match(subject) or _DSN_SUBJECT_SUFFIX_RE.search(subject)):
        return None
    if _FORWARD_RE.match(subject):
        return None
    why = _bounce_evidence(mail)
    if why is None:
        return None
    return f"delivery-failure subject {_short(subject)!r}, {why}"


def _failure_notice(mail: ParsedMail, ctx: _Ctx) -> str | None:
    """A failure notice whatever its subject: failed recipients found in a notice from
    a bounce sender (MDaemon: "Warning: a@b - User unknown!", relayed by a list
    with ``Precedence: bulk``)."""
    if not mail.bounced_recipients:
        return None
    who = _bounce_sender(mail)
    if who is None:
        return None
    return f"names failed recipient {_short(mail.bounced_recipients[0], 60)}, {who}"


# ---------------------------------------------------------------------------
# AUTO_REPLY
# ---------------------------------------------------------------------------


def _auto_submitted(mail: ParsedMail, ctx: _Ctx) -> str | None:
    value = _first(mail, "auto-submitted")
    if value is None:
        return None
    token = value.split(";", 1)[0].strip().lower()
    if token == "no":
        return None
    return f"Auto-Submitted: {_short(value)}"


_AUTO_HEADERS = (
    "x-autoreply",
    "x-autorespond",
    "x-autogenerated",
    "x-autoresponder",
    "x-autoreply-from",
    "x-mail-autoreply",
)
_NEGATIVE = frozenset({"no", "false", "0", "off"})


def _x_autoreply(mail: ParsedMail, ctx: _Ctx) -> str | None:
    for name in _AUTO_HEADERS:
        value = _first(mail, name)
        if value is not None and value.strip().lower() not in _NEGATIVE:
            return f"{name}: {_short(value)}"
    return None


def _other_report(mail: ParsedMail, ctx: _Ctx) -> str | None:
    """Read receipts (MDN), abuse feedback and other machine reports."""
    if mail.content_type != "multipart/report":
        return None
    rtype = _param(_first(mail, "content-type") or "", "report-type") or "unknown"
    return f"multipart/report; report-type={_short(rtype, 40)}"


_OOF_SUBJECT_WORDS = (
    "automatic reply",
    "auto reply",
    "auto-reply",
    "autoreply",
    "auto response",
    "auto-response",
    "autoresponse",
    "automated response",
    "automatic response",
    "out of office",
    "out of office autoreply",
    "out of office auto reply",
    "out of the office",
    "out-of-office",
    "ooo",
    "autosvar",  # sv, no, da
    "automatisk svar",
    "automatisch antwoord",  # nl
    "automatische antwort",  # de
    "abwesenheitsnotiz",  # de
    "abwesenheit",
    "reponse automatique",  # fr (accents are folded)
    "absence du bureau",
    "respuesta automatica",  # es
    "fuera de la oficina",
    "risposta automatica",  # it
    "resposta automatica",  # pt
    "automaattinen vastaus",  # fi
    "automaticka odpoved",  # cs
    "automatyczna odpowiedz",  # pl
    "automatikus valasz",  # hu
    "raspuns automat",  # ro
    "automatski odgovor",  # hr, sr
    "αυτοματη απαντηση",  # el
    "otomatik yanit",  # tr
    "автоматичен отговор",  # bg
    "автоматический ответ",  # ru
    "автоматична відповідь",  # uk
    "自動回覆",
    "自动回复",
    "自動応答",
    "자동 회신",
)
# The phrase must open the subject and be followed by a separator or the end:
# "Automatic reply: Your order" and "Out of Office" match, while a customer's
# "Out of office hours support?" does not.
_OOF_SUBJECT_RE = re.compile(
    r"^\s*\[?\s*(?:"
    + "|".join(re.escape(_fold(w)) for w in sorted(_OOF_SUBJECT_WORDS, key=len, reverse=True))
    + r")\s*(?:\]|:|：|-|–|—|\(|$)"
)
# Lotus Notes / Domino: "Jane Doe is out of the office."
_NOTES_OOF_RE = re.compile(r"\bis out of the office\b")


def _auto_reply_subject(mail: ParsedMail, ctx: _Ctx) -> str | None:
    folded = _fold(mail.subject)
    if _OOF_SUBJECT_RE.match(folded) or _NOTES_OOF_RE.search(folded):
        return f"auto-reply subject {_short(mail.subject)!r}"
    return None


_SUPPRESS_VALUES = frozenset({"all", "oof", "autoreply"})
# Exchange headers that only appear on mail generated by a server-side rule
# (out-of-office replies are generated by one).
_EXCHANGE_RULE_HEADERS = (
    "x-ms-exchange-inbox-rules-loop",
    "x-ms-exchange-generated-message-source",
)


def _auto_response_suppress(mail: ParsedMail, ctx: _Ctx) -> str | None:
    """X-Auto-Response-Suppress, only together with another auto-reply hint.

    Outlook puts ``X-Auto-Response-Suppress: All`` on ordinary mail too, so the
    header alone says nothing about who wrote it.
    """
    value = _first(mail, "x-auto-response-suppress")
    if value is None:
        return None
    tokens = {t.strip().lower() for t in re.split(r"[,;\s]+", value)}
    if not tokens & _SUPPRESS_VALUES:
        return None
    for name in _EXCHANGE_RULE_HEADERS:
        if name in mail.headers:
            return f"X-Auto-Response-Suppress: {_short(value, 40)} with {name}"
    if mail.return_path == "":
        return f"X-Auto-Response-Suppress: {_short(value, 40)} with empty Return-Path"
    return None


def _precedence_auto_reply(mail: ParsedMail, ctx: _Ctx) -> str | None:
    value = _first(mail, "precedence")
    if value is not None and value.strip().lower() == "auto_reply":
        return "Precedence: auto_reply"
    return None


# ---------------------------------------------------------------------------
# LIST
# ---------------------------------------------------------------------------


def _list_id(mail: ParsedMail, ctx: _Ctx) -> str | None:
    value = _first(mail, "list-id")
    return None if value is None else f"List-Id: {_short(value)}"


def _list_unsubscribe(mail: ParsedMail, ctx: _Ctx) -> str | None:
    value = _first(mail, "list-unsubscribe")
    return None if value is None else f"List-Unsubscribe: {_short(value)}"


_BULK_PRECEDENCE = frozenset({"bulk", "junk", "list"})


def _precedence_bulk(mail: ParsedMail, ctx: _Ctx) -> str | None:
    value = _first(mail, "precedence")
    if value is not None and value.strip().lower() in _BULK_PRECEDENCE:
        return f"Precedence: {_short(value, 40)}"
    return None


# ---------------------------------------------------------------------------
# Weak hints
# ---------------------------------------------------------------------------


def _null_return_path(mail: ParsedMail, ctx: _Ctx) -> str | None:
    return "empty Return-Path <>" if mail.return_path == "" else None


_NOREPLY_PREFIXES = ("noreply", "donotreply", "mailerdaemon", "postmaster")
_SEPARATORS_RE = re.compile(r"[-_.]")


def _noreply_sender(mail: ParsedMail, ctx: _Ctx) -> str | None:
    for header, addr in (("From", mail.from_), ("Sender", mail.sender)):
        if addr is not None and _SEPARATORS_RE.sub("", _localpart(addr)).startswith(
            _NOREPLY_PREFIXES
        ):
            return f"{header} is {addr.key}"
    return None


#: The table, strongest first; the first match decides.
RULES: tuple[Rule, ...] = (
    Rule("loop_header", Kind.OWN, _loop_header),
    Rule("own_address", Kind.OWN, _own_address),
    Rule("dsn_report", Kind.BOUNCE, _dsn_report),
    Rule("mailer_daemon", Kind.BOUNCE, _daemon_from),
    Rule("failed_recipients", Kind.BOUNCE, _failed_recipients),
    Rule("dsn_subject", Kind.BOUNCE, _dsn_subject),
    Rule("failure_notice", Kind.BOUNCE, _failure_notice),
    Rule("auto_submitted", Kind.AUTO_REPLY, _auto_submitted),
    Rule("x_autoreply", Kind.AUTO_REPLY, _x_autoreply),
    Rule("auto_response_suppress", Kind.AUTO_REPLY, _auto_response_suppress),
    Rule("precedence_auto_reply", Kind.AUTO_REPLY, _precedence_auto_reply),
    Rule("machine_report", Kind.AUTO_REPLY, _other_report),
    Rule("auto_reply_subject", Kind.AUTO_REPLY, _auto_reply_subject),
    Rule("list_id", Kind.LIST, _list_id),
    Rule("list_unsubscribe", Kind.LIST, _list_unsubscribe),
    Rule("precedence_bulk", Kind.LIST, _precedence_bulk),
    Rule("null_return_path", Kind.AUTO_REPLY, _null_return_path),
    Rule("noreply_sender", Kind.AUTO_REPLY, _noreply_sender),
)

_CUSTOMER = Verdict(Kind.CUSTOMER, "default", "no machine signal")


def classify(
    mail: ParsedMail,
    own_addresses: frozenset[str],
    loop_header: str = "X-Mailticket-Loop",
    instance: str | None = None,
) -> Verdict:
    """Return the verdict of the first matching rule in :data:`RULES`.

    ``own_addresses`` are compared lowercased and without "+tag", so a reply
    from ``support+123-ab@example.com`` counts as our own when
    ``support@example.com`` is one of ours.  ``instance``: the value this installation
    stamps in ``loop_header`` (``compose.loop_instance``); only that value is ours.
    None (callers that are no installation) takes any value for ours.  Never raises:
    a rule that fails on a strange mail is skipped (the default is CUSTOMER, whose only
    consequence is an acknowledgement, rate-limited by the caller).
    """
    ctx = _Ctx(_own_set(frozenset(own_addresses)), loop_header.strip().lower(),
               instance.strip().casefold() if instance is not None else None)
    for rule in RULES:
        try:
            reason = rule.fn(mail, ctx)
        except Exception:  # noqa: BLE001 - one odd header must not stop the table
            continue
        if reason is not None:
            return Verdict(rule.kind, rule.name, reason)
    return _CUSTOMER
