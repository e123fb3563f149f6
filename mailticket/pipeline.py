"""One mail's way through mailticket: prepare (parse, classify, language) → thread →
store → act.

``Pipeline.process`` runs inside the caller's transaction (the IMAP poller also
moves its UID watermark in it; the listener answers 250 only after it commits),
so a mail is either fully handled with every mail it causes queued in the
outbox, or not at all.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from sqlalchemy.orm import Session

from mailticket import agent
from mailticket.actions import change_state
from mailticket.clock import Clock
from mailticket.config import Config, DepartmentConfig
from mailticket.customers.redact import is_pseudonym
from mailticket.faq import replies as faq_replies
from mailticket.feedback.answers import take_grade
from mailticket.incoming.addresses import usable
from mailticket.incoming.classify import Kind
from mailticket.incoming.language import LanguageDetector
from mailticket.incoming.parse import ParsedMail
from mailticket.incoming.prepare import Prepared, Preparer
from mailticket.incoming.replies import new_text
from mailticket.incoming.threading import Decision, find_ticket
from mailticket.mail.subject import stored_subject
from mailticket.ops.logs import mail_context
from mailticket.outgoing import compose
from mailticket.outgoing.mailer import Mailer
from mailticket.outgoing.templates import Templates
from mailticket.sla.clock import promise, start_clock
from mailticket.store.batch import BatchReads, bounded_references
from mailticket.store.records import AnyMessage, AnyTicket, NewContact, NewTicket
from mailticket.store.writes import Writes

log = logging.getLogger("mailticket.pipeline")

NO_SENDER = "no sender address: no From, Sender, Reply-To or Return-Path with an address"


class NoSenderAddress(Exception):
    """A customer's mail with nobody to answer: held in quarantine, never a ticket
    whose answers would go nowhere (``App.ingest`` quarantines whatever the pipeline
    raises)."""


@dataclass(frozen=True)
class Outcome:
    # new_ticket | follow_up | attached | unattached | duplicate | quarantined |
    # agent_relayed | agent_note | agent_commands | agent_rejected | feedback |
    # solved_by_faq
    action: str
    ticket_id: int | None
    message_id: str
    reason: str


@dataclass(slots=True)
class MailAtHand:
    """One mail on its way through the pipeline: what every step reads (the batch's
    memo), where it writes, and the mail itself, its source, its instant and the
    department that handles it."""

    session: Session
    reads: BatchReads
    writes: Writes
    prepared: Prepared
    source: str
    now: datetime
    dept: DepartmentConfig

    @property
    def mail(self) -> ParsedMail:
        return self.prepared.mail

    def event(self, ticket: AnyTicket | None, kind: str, /, actor: str = "system",
              **detail: object) -> None:
        self.writes.event(ticket.id if ticket else None, kind, self.now, actor, **detail)


MAX_TEXT = 200_000


def _bounded(text: str) -> str:
    """The text we keep for display; the raw mail keeps everything."""
    if len(text) <= MAX_TEXT:
        return text
    return text[:MAX_TEXT] + f"\n\n[… {len(text) - MAX_TEXT} more characters in the raw mail]"


def _fit(value: str, limit: int) -> str:
    """Database columns have lengths; what does not fit is cut (the raw mail keeps it)."""
    return value if len(value) <= limit else value[:limit]


def _addr_key(addr: str) -> str:
    return addr.strip().lower()


class _Participants:
    """Threading's lookups, where a department's agents count as participants of its
    tickets (rule 3: "customer, CC, or agent"): a mail from Alice tagged [Support #12]
    joins ticket 12, instead of opening a ticket with Alice as its customer."""

    def __init__(self, batch: BatchReads, config: Config) -> None:
        self.batch, self.config = batch, config

    def ticket_for_message_ids(self, ids: Sequence[str]) -> int | None:
        return self.batch.ticket_for_message_ids(ids)

    def ticket_exists(self, ticket_id: int) -> bool:
        # An erased ticket takes no more mail: its person starts afresh (customers/).
        ticket = self.batch.ticket(ticket_id)
        return ticket is not None and not is_pseudonym(ticket.customer)

    def is_participant(self, ticket_id: int, address: str) -> bool:
        if self.batch.is_participant(ticket_id, address):
            return True
        ticket = self.batch.ticket(ticket_id)
        dept = next((d for d in self.config.departments
                     if ticket is not None and d.name == ticket.department), None)
        return dept is not None and address.lower() in agent.staff(dept)


class Pipeline:
    def __init__(self, config: Config, clock: Clock, secret: bytes, templates: Templates) -> None:
        self.config = config
        self.clock = clock
        self.secret = secret
        self.mailer = Mailer(config, templates, secret)
        self.own = config.own_addresses
        # Nobody on the staff of any department ever gets an auto-response.
        self.staff = frozenset(a for d in config.departments for a in agent.staff(d))
        langs = config.languages
        self.preparer = Preparer(
            LanguageDetector(frozenset(langs.supported), low_memory=langs.low_memory),
            langs.min_confidence, self.own, self.mailer.instance)
        # Sources whose mail gets no auto-response, with the reason recorded instead
        # (``reconcile --fix`` of mail that waited more than a day).
        self.quiet: dict[str, str] = {}
        # The mails of a batch share one instant, so their clocks share one due time.
        self._due = lru_cache(maxsize=64)(self._compute_due)

    # -- entry point --------------------------------------------------------------
    def process(
        self, session: Session, raw: bytes, *, mailbox_department: str | None, source: str,
        envelope_rcpts: Sequence[str] = (),
    ) -> Outcome:
        """One mail on its own (the listener, the CLI)."""
        prepared = self.preparer.prepare(raw)
        reads, writes = self.batch(session, [prepared]), Writes(session)
        try:
            outcome = self.process_prepared(
                session, prepared, reads, writes, mailbox_department=mailbox_department,
                source=source, envelope_rcpts=envelope_rcpts)
            writes.write()
        finally:
            writes.close()  # a mail that failed leaves no held rows for the next one to write
        return outcome

    def batch(self, session: Session, prepared: Sequence[Prepared]) -> BatchReads:
        """Look up, in a few queries, what processing these mails will ask about."""
        mails = [p.mail for p in prepared]
        return BatchReads(session, message_ids=[m.message_id for m in mails],
                          senders=[m.from_.key for m in mails if m.from_],
                          references=[r for m in mails for r in (
                              *bounded_references([*m.in_reply_to, *reversed(m.references)]),
                              *bounded_references(m.original_message_ids))],
                          now=self.clock.now())

    def process_prepared(
        self, session: Session, prepared: Prepared, reads: BatchReads, writes: Writes, *,
        mailbox_department: str | None, source: str, envelope_rcpts: Sequence[str] = (),
    ) -> Outcome:
        """One mail of a batch.  Nothing is flushed on the way: what the batch created so
        far is read from the batch's memo or through the tickets' relationships, and
        ``writes`` holds it until the caller's ``Writes.write``."""
        with session.no_autoflush, mail_context(message_id=prepared.mail.message_id,
                                                source=source):
            return self._process(session, prepared, reads, writes,
                                 mailbox_department=mailbox_department, source=source,
                                 envelope_rcpts=envelope_rcpts)

    def _process(
        self, session: Session, prepared: Prepared, reads: BatchReads, writes: Writes, *,
        mailbox_department: str | None, source: str, envelope_rcpts: Sequence[str],
    ) -> Outcome:
        mail, mine, verdict = prepared.mail, prepared.fingerprint, prepared.verdict
        stored, known = reads.lookup(mail.message_id)
        if stored:
            if known in (None, mine):
                return Outcome("duplicate", None, mail.message_id, "Message-ID already stored")
            # A different mail under a Message-ID we know (broken scanners and web
            # forms reuse one): keep it, under an id of its own.
            reused = mail.message_id
            mail.message_id = (
                f"<{hashlib.sha256(mail.raw).hexdigest()[:32]}@mailticket.invalid>")
            log.warning("%s reuses the Message-ID of another mail; stored as %s", reused,
                        mail.message_id)
            if reads.lookup(mail.message_id)[0]:
                return Outcome("duplicate", None, mail.message_id, "same mail already stored")
        reads.remember(mail.message_id, mine)
        dept = self._department(mail, envelope_rcpts, mailbox_department)
        sender = mail.from_.key if mail.from_ else None
        decision = find_ticket(
            recipients=[*(a.key for a in mail.all_recipients()), *mail.delivered_to,
                        *(_addr_key(r) for r in envelope_rcpts)],
            in_reply_to=mail.in_reply_to, references=mail.references, subject=mail.subject,
            sender=sender, own_addresses=self.own, secret=self.secret,
            lookups=_Participants(reads, self.config),
        )
        for bad in decision.rejected_tokens:
            log.warning("%s token rejected (bad mac): %s", mail.message_id, bad)
        if verdict.kind is Kind.CUSTOMER and decision.is_new and not usable(mail.from_):
            raise NoSenderAddress(NO_SENDER)
        at = MailAtHand(session, reads, writes, prepared, source, reads.now or self.clock.now(),
                        dept)
        if verdict.kind is not Kind.CUSTOMER:
            outcome = self._machine(at, decision)
        elif decision.is_new:
            outcome = self._new_ticket(at)
        else:
            outcome = self._follow_up(at, decision)
        if outcome.ticket_id is not None:
            reads.stored_in(mail.message_id, outcome.ticket_id)
        return outcome

    # -- where it goes ------------------------------------------------------------
    def _department(self, mail: ParsedMail, envelope: Sequence[str],
                    mailbox: str | None) -> DepartmentConfig:
        """The first department address among To/Cc; else the mailbox or envelope's own."""
        for a in mail.all_recipients():
            d = self.config.department_for_address(a.key)
            if d is not None:
                return d
        if mailbox is not None:
            return self.config.department(mailbox)
        for r in envelope:
            d = self.config.department_for_address(r)
            if d is not None:
                return d
        return self.config.departments[0]

    # -- storing ------------------------------------------------------------------
    def _store(self, at: MailAtHand, ticket: AnyTicket | None, kind: str, verdict: str
               ) -> AnyMessage:
        mail = at.mail
        if mail.from_ and mail.from_header not in ("from", ""):
            # Agents see whose mail it is and why: the header that stood in for From.
            verdict += f"; no From: sender taken from {mail.from_header}"
            if ticket is not None:
                at.event(ticket, "sender_fallback", header=mail.from_header,
                         address=mail.from_.key, message_id=mail.message_id)
        return at.writes.add_message(ticket, dict(
            direction="in", kind=kind, message_id=mail.message_id,
            in_reply_to=" ".join(mail.in_reply_to) or None, references=mail.references,
            from_addr=_fit(mail.from_.key, 320) if mail.from_ else "",
            from_name=_fit(mail.from_.name, 320) if mail.from_ else "",
            fingerprint=at.reads.stored[mail.message_id],  # remembered by _process
            to=[a.key for a in mail.to], cc=[a.key for a in mail.cc],
            subject=mail.subject, date=(mail.date or at.now).astimezone(UTC),
            text=_bounded(mail.text),
            attachments=[{"name": a.filename, "type": a.content_type, "size": a.size}
                         for a in mail.attachments],
            language=None, verdict=verdict, source=at.source, raw=mail.raw,
        ))

    def _add_participants(self, at: MailAtHand, ticket: AnyTicket, sender: bool = True) -> None:
        """``sender``: False for a From that is not believed (a suspected spoof)."""
        mail = at.mail
        known = {p.address for p in ticket.participants}
        people = []
        if mail.from_ and sender:
            people.append((mail.from_, "customer" if not known else "cc"))
        people += [(a, "cc") for a in mail.all_recipients()]
        for a, role in people:
            key = a.key
            if not key or "@" not in key or key in known or len(key) > 320:
                continue  # RFC 5321 caps an address at 254 characters
            if self.config.department_for_address(key) is not None:
                continue  # our own addresses, token addresses included
            known.add(key)
            at.writes.add_participant(ticket, address=key, name=a.name[:320], role=role,
                                      bouncing=False)

    def _language(self, at: MailAtHand, msg: AnyMessage) -> tuple[str, str]:
        """The customer's language: header, else detected, else what they wrote before,
        else the department's.  Remembered per address when the mail itself says it."""
        mail = at.mail
        address = mail.from_.key if mail.from_ and len(mail.from_.key) <= 320 else ""
        contact = at.reads.contact(address) if address else None
        known = contact.language if contact else None
        guess = at.prepared.language
        lang, how = guess if guess else (known or at.dept.language, "fallback")
        if how == "fallback" and known:
            how = "customer"
        if how in ("header", "detected") and address:
            if contact is None:
                new = NewContact(address=address, language=lang, updated_at=at.now)
                at.writes.add_contact(new)
                at.reads.learned(new)
            elif contact.language != lang:
                contact.language, contact.updated_at = lang, at.now
        msg.language = lang
        return lang, how

    # -- acting -------------------------------------------------------------------
    def _machine(self, at: MailAtHand, decision: Decision) -> Outcome:
        """Machine mail never opens a ticket and never gets an answer; it is kept all the same."""
        mail, verdict = at.mail, at.prepared.verdict
        why = f"{verdict.kind.value}: {verdict.reason}"
        ticket_id = decision.ticket_id
        if ticket_id is None and verdict.kind in (Kind.BOUNCE, Kind.AUTO_REPLY):
            # Bounces rarely set In-Reply-To; the returned headers name our mail.
            ticket_id = at.reads.ticket_for_message_ids(mail.original_message_ids)
        ticket = at.reads.ticket(ticket_id) if ticket_id else None
        if verdict.kind is Kind.OWN:
            ticket = None  # our own mail coming back: keep it, attach it nowhere
        if ticket is None and verdict.kind is Kind.LIST and self.config.limits.lists_open_tickets:
            return self._new_ticket(at, answer=False)
        msg = self._store(at, ticket, verdict.kind.value, why)
        if ticket is None:
            log.info("%s stored without a ticket: %s", mail.message_id, why,
                     extra={"department": at.dept.name})
            return Outcome("unattached", None, mail.message_id, why)
        ticket.updated_at = at.now
        at.event(ticket, f"{verdict.kind.value}_received", message_id=mail.message_id,
                 reason=why)
        if verdict.kind is Kind.BOUNCE:
            self._mark_bouncing(at, ticket)
            self.mailer.notify_agents(at.writes, ticket, self.config.department(
                ticket.department), msg, at.now, is_new=False, files=compose.files_of(mail))
        log.info("%s attached to ticket %d: %s", mail.message_id, ticket.id, why,
                 extra={"ticket": ticket.id, "department": ticket.department})
        return Outcome("attached", ticket.id, mail.message_id, why)

    def _mark_bouncing(self, at: MailAtHand, ticket: AnyTicket) -> None:
        bounced = {a.lower() for a in at.mail.bounced_recipients}
        for p in ticket.participants:
            if p.address in bounced and not p.bouncing:
                p.bouncing = True
                at.event(ticket, "address_bouncing", address=p.address,
                         message_id=at.mail.message_id)

    def _start_clock(self, at: MailAtHand, ticket: AnyTicket) -> None:
        """A customer message waits for an answer: due at the department's response target."""
        if ticket.due_at is None:  # else the oldest unanswered message keeps its promise
            start_clock(ticket, at.now, *self._due(at.dept.name, at.now))

    def _compute_due(self, department: str, now: datetime) -> tuple[datetime, datetime]:
        """(due, warn) for a clock started ``now``: pure calendar arithmetic."""
        dept = self.config.department(department)
        sla = self.config.sla_for(dept)
        cal = self.config.calendar_for(dept)
        duration = sla.response_duration
        return promise(cal, duration, now), cal.warn_instant(now, duration, sla.warn_at)

    def _new_ticket(self, at: MailAtHand, answer: bool = True) -> Outcome:
        mail, verdict, dept, now = at.mail, at.prepared.verdict, at.dept, at.now
        customer = mail.from_
        ticket = NewTicket(
            id=at.writes.new_ticket_id(), department=dept.name,
            subject=stored_subject(mail.subject),
            customer=_fit(customer.key, 320) if customer else "",
            customer_name=_fit(customer.name, 320) if customer else "", state="new",
            priority="normal",
            created_at=now, updated_at=now,
        )
        at.writes.add_ticket(ticket)
        at.reads.opened(ticket)
        self._add_participants(at, ticket)
        self._start_clock(at, ticket)
        msg = self._store(at, ticket, "customer", f"{verdict.kind.value}: {verdict.reason}")
        ticket.language, how = self._language(at, msg)
        at.event(ticket, "created", actor=ticket.customer, message_id=mail.message_id,
                 department=dept.name, language=ticket.language, language_from=how)
        log.info("%s opened ticket %d in %s", mail.message_id, ticket.id, dept.name,
                 extra={"ticket": ticket.id, "department": dept.name})
        if answer and ticket.customer in self.staff:
            # An agent's own address (or a forger using it): a robot's "we got your
            # mail" to a colleague is noise at best, and a loop at worst.
            at.event(ticket, "auto_response_suppressed",
                     reason=f"{ticket.customer} is on the staff of a department")
        elif answer and (late := self.quiet.get(at.source)):
            at.event(ticket, "auto_response_suppressed", reason=late)
        elif answer and ticket.customer:
            sent = at.reads.auto_responses_today(ticket.customer, now)
            if self.mailer.auto_response(at.writes, ticket, dept, msg, now, sent=sent,
                                         faq_ahead=at.prepared.faq):
                at.reads.count_auto_response(ticket.customer)
        self.mailer.notify_agents(at.writes, ticket, dept, msg, now, is_new=True,
                                  files=compose.files_of(mail))
        return Outcome("new_ticket", ticket.id, mail.message_id, "new ticket")

    def _follow_up(self, at: MailAtHand, decision: Decision) -> Outcome:
        mail, verdict, now = at.mail, at.prepared.verdict, at.now
        ticket = at.reads.ticket(decision.ticket_id) if decision.ticket_id else None
        assert ticket is not None
        # The ticket's department handles the mail, whichever address it came to.
        dept = at.dept = self.config.department(ticket.department)
        staff = agent.authentic_agent(at.session, ticket, dept, mail, decision)
        if staff is not None:
            msg = self._store(at, ticket, "agent", f"agent: {staff}, proven by {decision.rule}")
            what = agent.handle_reply(at.writes, self.mailer, ticket, dept, mail, staff, msg,
                                      now)
            log.info("%s agent reply from %s on ticket %d: %s", mail.message_id, staff,
                     ticket.id, what, extra={"ticket": ticket.id, "department": dept.name})
            return Outcome(f"agent_{what}", ticket.id, mail.message_id, decision.reason)
        if ticket.state == "closed" and (grade := take_grade(
                at.writes, self.config, self.mailer, ticket, new_text(mail.text), now)):
            # An answer to "how did we do?": recorded, and nothing else happens.
            self._store(at, ticket, "feedback",
                        f"feedback: grade {grade.value}; threaded by {decision.rule}")
            return Outcome("feedback", ticket.id, mail.message_id, decision.reason)
        who = mail.from_.key if mail.from_ else ""
        spoof = who in agent.staff(dept)
        why = f"customer: {verdict.reason}; threaded by {decision.rule}"
        if spoof:
            log.warning("%s From is agent %s but nothing proves it: treated as a customer "
                        "message (suspected spoof)", mail.message_id, who)
            at.event(ticket, "suspected_spoof", actor=who, message_id=mail.message_id,
                     rule=decision.rule)
            why += f"; suspected spoof: From is agent {who} without proof"
        self._add_participants(at, ticket, sender=not spoof)
        msg = self._store(at, ticket, "customer", why)
        lang, how = self._language(at, msg)
        if faq_replies.close_if_solved(at.writes, self.mailer, ticket, dept, msg, now,
                                       at.reads.suggested):
            return Outcome("solved_by_faq", ticket.id, mail.message_id, decision.reason)
        if how in ("header", "detected") and lang != ticket.language:
            at.event(ticket, "language_changed", old=ticket.language, new=lang)
            ticket.language = lang
        if ticket.state in ("closed", "pending", "new") and ticket.messages[:-1]:
            change_state(at.writes, ticket, "open", msg.from_addr, now)
        ticket.updated_at = now
        self._start_clock(at, ticket)
        at.event(ticket, "customer_message", actor=msg.from_addr, message_id=mail.message_id,
                 rule=decision.rule)
        log.info("%s joined ticket %d (%s)", mail.message_id, ticket.id, decision.reason,
                 extra={"ticket": ticket.id, "department": dept.name})
        self.mailer.notify_agents(at.writes, ticket, dept, msg, now, is_new=False,
                                  files=compose.files_of(mail), suspected_spoof=spoof)
        return Outcome("follow_up", ticket.id, mail.message_id, decision.reason)
