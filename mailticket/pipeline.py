"""One mail's way through mailticket: parse → classify → thread → store → act.

``Pipeline.process`` runs inside the caller's transaction (the IMAP poller also
moves its UID watermark in it; the listener answers 250 only after it commits),
so a mail is either fully handled with every mail it causes queued in the
outbox, or not at all.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailticket.clock import Clock
from mailticket.config import Config, DepartmentConfig
from mailticket.mail import compose
from mailticket.mail.classify import Kind, Verdict, classify
from mailticket.mail.parse import ParsedMail, parse
from mailticket.mail.subject import base_subject, reply_subject, tag, ticket_subject
from mailticket.mail.templates import Templates
from mailticket.mail.threading import Decision, find_ticket
from mailticket.mail.tokens import token_address
from mailticket.outbox import enqueue
from mailticket.sla.state import sla_state
from mailticket.store.models import Event, Message, Participant, Ticket

log = logging.getLogger("mailticket.pipeline")

MARKER = "##- Please type your reply above this line -##"


@dataclass(frozen=True)
class Outcome:
    action: str          # new_ticket | follow_up | attached | unattached | duplicate
    ticket_id: int | None
    message_id: str
    reason: str


class DbLookups:
    """The threading rules' view of the database."""

    def __init__(self, session: Session) -> None:
        self.s = session

    def ticket_for_message_ids(self, ids: Sequence[str]) -> int | None:
        rows = self.s.execute(
            select(Message.message_id, Message.ticket_id).where(
                Message.message_id.in_(list(ids)), Message.ticket_id.is_not(None))
        ).all()
        found = dict(rows)  # type: ignore[arg-type]
        for i in ids:
            if i in found:
                return int(found[i])
        return None

    def ticket_exists(self, ticket_id: int) -> bool:
        return self.s.get(Ticket, ticket_id) is not None

    def is_participant(self, ticket_id: int, address: str) -> bool:
        return self.s.scalar(select(Participant.id).where(
            Participant.ticket_id == ticket_id,
            Participant.address == address.lower())) is not None


def ceil_minute(t: datetime) -> datetime:
    return t if not (t.second or t.microsecond) else (
        t.replace(second=0, microsecond=0) + timedelta(minutes=1))


def _addr_key(addr: str) -> str:
    return addr.strip().lower()


class Pipeline:
    def __init__(self, config: Config, clock: Clock, secret: bytes, templates: Templates) -> None:
        self.config = config
        self.clock = clock
        self.secret = secret
        self.templates = templates
        self.own = config.own_addresses

    # -- entry point --------------------------------------------------------------
    def process(
        self, session: Session, raw: bytes, *, mailbox_department: str | None, source: str,
        envelope_rcpts: Sequence[str] = (),
    ) -> Outcome:
        mail = parse(raw)
        if session.scalar(select(Message.id).where(Message.message_id == mail.message_id)):
            return Outcome("duplicate", None, mail.message_id, "Message-ID already stored")
        verdict = classify(mail, self.own, compose.LOOP_HEADER)
        dept = self._department(mail, envelope_rcpts, mailbox_department)
        sender = mail.from_.key if mail.from_ else None
        decision = find_ticket(
            recipients=[*(a.key for a in mail.all_recipients()), *mail.delivered_to,
                        *(_addr_key(r) for r in envelope_rcpts)],
            in_reply_to=mail.in_reply_to, references=mail.references, subject=mail.subject,
            sender=sender, own_addresses=self.own, secret=self.secret,
            lookups=DbLookups(session),
        )
        for bad in decision.rejected_tokens:
            log.warning("%s token rejected (bad mac): %s", mail.message_id, bad)
        now = self.clock.now()
        if verdict.kind is not Kind.CUSTOMER:
            return self._machine(session, mail, verdict, decision, dept, source, now)
        if decision.is_new:
            return self._new_ticket(session, mail, verdict, dept, source, now)
        return self._follow_up(session, mail, verdict, decision, source, now)

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
    def _store(self, session: Session, mail: ParsedMail, ticket: Ticket | None, kind: str,
               verdict: str, source: str, now: datetime) -> Message:
        m = Message(
            ticket=ticket, direction="in", kind=kind, message_id=mail.message_id,
            in_reply_to=" ".join(mail.in_reply_to) or None, references=mail.references,
            from_addr=mail.from_.key if mail.from_ else "",
            from_name=mail.from_.name if mail.from_ else "",
            to=[a.key for a in mail.to], cc=[a.key for a in mail.cc],
            subject=mail.subject, date=mail.date or now, text=mail.text,
            attachments=[{"name": a.filename, "type": a.content_type, "size": a.size}
                         for a in mail.attachments],
            language=mail.content_language, verdict=verdict, source=source, raw=mail.raw,
        )
        session.add(m)
        return m

    def _event(self, session: Session, ticket: Ticket | None, kind: str, now: datetime,
               actor: str = "system", **detail: object) -> None:
        session.add(Event(ticket_id=ticket.id if ticket else None, at=now, kind=kind,
                          actor=actor, detail=detail))

    def _add_participants(self, session: Session, ticket: Ticket, mail: ParsedMail) -> None:
        known = {p.address for p in ticket.participants}
        people = []
        if mail.from_:
            people.append((mail.from_, "customer" if not known else "cc"))
        people += [(a, "cc") for a in mail.all_recipients()]
        for a, role in people:
            key = a.key
            if not key or "@" not in key or key in known:
                continue
            if self.config.department_for_address(key) is not None:
                continue  # our own addresses, token addresses included
            known.add(key)
            ticket.participants.append(Participant(address=key, name=a.name[:320], role=role))

    # -- acting -------------------------------------------------------------------
    def _machine(self, session: Session, mail: ParsedMail, verdict: Verdict, decision: Decision,
                 dept: DepartmentConfig, source: str, now: datetime) -> Outcome:
        """Machine mail never opens a ticket and never gets an answer; it is kept all the same."""
        why = f"{verdict.kind.value}: {verdict.reason}"
        ticket = session.get(Ticket, decision.ticket_id) if decision.ticket_id else None
        if verdict.kind is Kind.OWN:
            ticket = None  # our own mail coming back: keep it, attach it nowhere
        self._store(session, mail, ticket, verdict.kind.value, why, source, now)
        if ticket is None:
            log.info("%s stored without a ticket: %s", mail.message_id, why)
            return Outcome("unattached", None, mail.message_id, why)
        ticket.updated_at = now
        self._event(session, ticket, f"{verdict.kind.value}_received", now,
                    message_id=mail.message_id, reason=why)
        log.info("%s attached to ticket %d: %s", mail.message_id, ticket.id, why)
        return Outcome("attached", ticket.id, mail.message_id, why)

    def _start_clock(self, ticket: Ticket, dept: DepartmentConfig, now: datetime) -> None:
        """A customer message waits for an answer: due at the department's response target."""
        if ticket.due_at is not None:
            return  # the oldest unanswered message keeps its earlier promise
        sla = self.config.sla_for(dept)
        cal = self.config.calendar_for(dept)
        duration = sla.response_duration
        ticket.clock_started_at = now
        # Whole minutes: the promise shows minutes, and must be the very same instant.
        ticket.due_at = ceil_minute(cal.add(now, duration))
        ticket.warn_at = cal.warn_instant(now, duration, sla.warn_at)
        ticket.escalation_level = 0

    def _new_ticket(self, session: Session, mail: ParsedMail, verdict: Verdict,
                    dept: DepartmentConfig, source: str, now: datetime) -> Outcome:
        customer = mail.from_
        ticket = Ticket(
            department=dept.name, subject=base_subject(mail.subject)[:1000],
            customer=customer.key if customer else "", customer_name=customer.name if customer
            else "", state="new", priority="normal", language=mail.content_language,
            created_at=now, updated_at=now, participants=[], messages=[],
        )
        session.add(ticket)
        self._add_participants(session, ticket, mail)
        self._start_clock(ticket, dept, now)
        msg = self._store(session, mail, ticket, "customer", f"customer: {verdict.reason}",
                          source, now)
        session.flush()  # the ticket id is in every mail we write
        self._event(session, ticket, "created", now, actor=ticket.customer,
                    message_id=mail.message_id, department=dept.name)
        log.info("%s opened ticket %d in %s", mail.message_id, ticket.id, dept.name)
        self._auto_response(session, ticket, dept, mail, now)
        self._notify_agents(session, ticket, dept, msg, now, is_new=True)
        return Outcome("new_ticket", ticket.id, mail.message_id, "new ticket")

    def _follow_up(self, session: Session, mail: ParsedMail, verdict: Verdict,
                   decision: Decision, source: str, now: datetime) -> Outcome:
        ticket = session.get(Ticket, decision.ticket_id)
        assert ticket is not None
        dept = self.config.department(ticket.department)
        self._add_participants(session, ticket, mail)
        msg = self._store(session, mail, ticket, "customer",
                          f"customer: {verdict.reason}; threaded by {decision.rule}", source, now)
        if ticket.state in ("closed", "pending"):
            self._event(session, ticket, "state_changed", now, actor=msg.from_addr,
                        old=ticket.state, new="open", why="customer wrote")
            ticket.state = "open"
        ticket.updated_at = now
        self._start_clock(ticket, dept, now)
        self._event(session, ticket, "customer_message", now, actor=msg.from_addr,
                    message_id=mail.message_id, rule=decision.rule)
        log.info("%s joined ticket %d (%s)", mail.message_id, ticket.id, decision.reason)
        self._notify_agents(session, ticket, dept, msg, now, is_new=False)
        return Outcome("follow_up", ticket.id, mail.message_id, decision.reason)

    # -- the mails we send ----------------------------------------------------------
    def _auto_responses_today(self, session: Session, address: str, now: datetime) -> int:
        q = (select(func.count()).select_from(Message).join(Ticket)
             .where(Message.kind == "auto_response", Ticket.customer == address,
                    Message.date >= now - timedelta(days=1)))
        return int(session.scalar(q) or 0)

    def _auto_response(self, session: Session, ticket: Ticket, dept: DepartmentConfig,
                       mail: ParsedMail, now: datetime) -> None:
        if not ticket.customer:
            return
        limit = self.config.limits.auto_responses_per_sender_per_day
        sent = self._auto_responses_today(session, ticket.customer, now)
        if sent >= limit:
            log.warning("%s no auto-response: %s had %d today (limit %d)",
                        mail.message_id, ticket.customer, sent, limit)
            self._event(session, ticket, "auto_response_suppressed", now,
                        reason=f"{sent} auto-responses to {ticket.customer} in 24 h")
            return
        cal_cfg = dept.calendar or self.config.calendar
        text, lang = self._render_auto(ticket, dept, cal_cfg.timezone)
        out = compose.build(
            "auto_response", from_name=dept.sender_name, from_addr=dept.address,
            to=[(ticket.customer_name, ticket.customer)],
            subject=reply_subject(dept.tag_word, ticket.id, mail.subject), text=text,
            date=now, instance=self.config.instance, auto_submitted="auto-replied",
            in_reply_to=mail.message_id, references=[*mail.references, mail.message_id],
            language=lang,
        )
        enqueue(session, out, ticket=ticket, now=now)

    def _render_auto(self, ticket: Ticket, dept: DepartmentConfig, timezone: str
                     ) -> tuple[str, str]:
        return self.templates.render(
            "auto_response.txt.j2", dept_name=dept.name, dept_dir=dept.template_dir,
            languages=[ticket.language or "", dept.language],
            customer_name=ticket.customer_name, department=dept.sender_name,
            ref=tag(dept.tag_word, ticket.id), subject=ticket.subject, due_at=ticket.due_at,
            timezone=timezone, ticket_id=ticket.id,
        )

    def _notify_agents(self, session: Session, ticket: Ticket, dept: DepartmentConfig,
                       msg: Message, now: datetime, *, is_new: bool) -> None:
        """One mail per agent, each with its own unguessable Message-ID, so a reply proves who."""
        agents = [ticket.assignee] if ticket.assignee else list(dept.agents)
        if not agents:
            return
        cal_cfg = dept.calendar or self.config.calendar
        history = [
            {"date": m.date.strftime("%Y-%m-%d %H:%M"), "direction": m.direction,
             "who": m.from_addr or "-", "summary": compose.clean(m.text, 80)}
            for m in ticket.messages[-6:] if m is not msg and m.kind in (
                "customer", "agent", "note")
        ]
        text, _ = self.templates.render(
            "notification.txt.j2", dept_name=dept.name, dept_dir=dept.template_dir,
            languages=[dept.language], marker=MARKER, is_new=is_new,
            ref=tag(dept.tag_word, ticket.id), customer=f"{ticket.customer_name} <"
            f"{ticket.customer}>" if ticket.customer_name else ticket.customer,
            department=dept.sender_name, state=ticket.state, priority=ticket.priority,
            assignee=ticket.assignee, due_at=ticket.due_at, sla=sla_state(ticket, now),
            timezone=cal_cfg.timezone, subject=msg.subject, text=msg.text,
            attachments=msg.attachments, history=history,
        )
        name = ticket.customer_name or ticket.customer
        reply_to = token_address(dept.address, ticket.id, self.secret)
        for agent in agents:
            out = compose.build(
                "notification", from_name=f"{name} via {dept.sender_name}",
                from_addr=dept.address, to=[("", agent)],
                subject=ticket_subject(dept.tag_word, ticket.id, ticket.subject), text=text,
                date=now, instance=self.config.instance, auto_submitted="auto-generated",
                reply_to=reply_to, in_reply_to=msg.message_id,
                references=[*msg.references, msg.message_id], language=dept.language,
            )
            enqueue(session, out, ticket=ticket, now=now)
