"""The mails a ticket causes: auto-response, agent notifications, relayed answers,
internal-note copies and error notes to agents.  Each is rendered from a
template, built by ``mail.compose`` and queued in the caller's transaction.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from babel.core import UnknownLocaleError
from babel.dates import format_timedelta
from sqlalchemy.orm import Session

from mailticket.config import Config, DepartmentConfig
from mailticket.mail.subject import reply_subject, tag, ticket_subject
from mailticket.mail.tokens import token_address
from mailticket.outgoing import compose
from mailticket.outgoing.outbox import enqueue
from mailticket.outgoing.templates import Templates
from mailticket.sla.state import sla_state
from mailticket.store.batch import WRITTEN_BY_PEOPLE, record
from mailticket.store.models import Message, Ticket

log = logging.getLogger("mailticket.mailer")

MARKER = "##- Please type your reply above this line -##"

#: Every kind of mail we send, and what its Auto-Submitted header says of its author
#: (RFC 3834; design, "Never answer a machine").  An agent's relayed answer is a person's
#: words and carries none, so another helpdesk treats it as a person's mail.
AUTO_SUBMITTED: dict[str, str | None] = {
    "auto_response": "auto-replied",
    "closed_notice": "auto-replied",
    "agent": None,
    "notification": "auto-generated",
    "note": "auto-generated",
    "agent_copy": "auto-generated",
    "agent_error": "auto-generated",
    "warning": "auto-generated",
    "escalation": "auto-generated",
}


class Mailer:
    def __init__(self, config: Config, templates: Templates, secret: bytes) -> None:
        self.config = config
        self.templates = templates
        self.secret = secret
        self.instance = compose.loop_instance(secret, config.instance)

    # -- helpers --------------------------------------------------------------------
    def _tz(self, dept: DepartmentConfig) -> str:
        return (dept.calendar or self.config.calendar).timezone

    def _render(self, name: str, dept: DepartmentConfig, languages: list[str],
                **context: object) -> tuple[str, str]:
        return self.templates.render(
            name, dept_name=dept.name, dept_dir=dept.template_dir,
            languages=[*languages, dept.language], department=dept.sender_name,
            timezone=self._tz(dept), **context)

    def _build(self, kind: str, dept: DepartmentConfig, now: datetime, **kw: object
               ) -> compose.Outgoing:
        return self._build_each(kind, dept, now, each_to=[kw.pop("to")], **kw)[0]

    def _build_each(self, kind: str, dept: DepartmentConfig, now: datetime, **kw: object
                    ) -> list[compose.Outgoing]:
        return compose.build_each(kind, from_addr=dept.address, date=now,
                                  instance=self.instance, auto_submitted=AUTO_SUBMITTED[kind],
                                  **kw)  # type: ignore[arg-type]

    def last_customer_message(self, ticket: Ticket) -> Message | None:
        for m in reversed(ticket.messages):
            if m.direction == "in" and m.kind == "customer":
                return m
        return None

    # -- to the customer ------------------------------------------------------------
    def auto_response(self, session: Session, ticket: Ticket, dept: DepartmentConfig,
                      msg: Message, now: datetime, sent: int) -> bool:
        """Acknowledge a new ticket, with the promise — unless this sender had enough today
        (``sent`` auto-responses in the last 24 hours, as the ingest batch counted them)."""
        if not ticket.customer:
            return False
        limit = self.config.limits.auto_responses_per_sender_per_day
        if sent >= limit:
            log.warning("%s no auto-response: %s had %d in 24 h (limit %d)",
                        msg.message_id, ticket.customer, sent, limit)
            record(session, ticket.id, "auto_response_suppressed", now,
                   reason=f"{sent} auto-responses in 24 h")
            return False
        text, lang = self._render(
            "auto_response.txt.j2", dept, [ticket.language or ""],
            customer_name=ticket.customer_name, ref=tag(dept.tag_word, ticket.id),
            subject=ticket.subject, due_at=ticket.due_at, ticket_id=ticket.id)
        out = self._build(
            "auto_response", dept, now, from_name=dept.sender_name,
            to=[(ticket.customer_name, ticket.customer)],
            subject=reply_subject(dept.tag_word, ticket.id, msg.subject), text=text,
            in_reply_to=msg.message_id, references=[*msg.references, msg.message_id],
            language=lang)
        enqueue(session, out, ticket=ticket, now=now)
        return True

    def closed_notice(self, session: Session, ticket: Ticket, dept: DepartmentConfig,
                      now: datetime) -> None:
        """Tell the customer the ticket is closed and that a reply reopens it."""
        if not dept.notify_customer_on_close or not ticket.customer:
            return
        last = self.last_customer_message(ticket)
        text, lang = self._render(
            "closed.txt.j2", dept, [ticket.language or ""], customer_name=ticket.customer_name,
            ref=tag(dept.tag_word, ticket.id), subject=ticket.subject)
        out = self._build(
            "closed_notice", dept, now, from_name=dept.sender_name,
            to=[(ticket.customer_name, ticket.customer)],
            subject=reply_subject(dept.tag_word, ticket.id, ticket.subject), text=text,
            in_reply_to=last.message_id if last else None,
            references=[*(last.references if last else []),
                        *([last.message_id] if last else [])], language=lang)
        enqueue(session, out, ticket=ticket, now=now)

    def relay_answer(self, session: Session, ticket: Ticket, dept: DepartmentConfig,
                     agent: str, agent_name: str, text: str,
                     attachments: list[tuple[str, str, bytes]], now: datetime) -> str:
        """The agent's words to the customer, threaded into the customer's conversation."""
        last = self.last_customer_message(ticket)
        body, lang = self._render("answer.txt.j2", dept, [ticket.language or ""], text=text,
                                  ref=tag(dept.tag_word, ticket.id), agent_name=agent_name)
        name = dept.sender_name if dept.hide_agent_names or not agent_name else (
            f"{agent_name} via {dept.sender_name}")
        cc = [(p.name, p.address) for p in ticket.participants
              if p.role == "cc" and p.address not in (agent, ticket.customer)]
        refs = [*(last.references if last else []), *([last.message_id] if last else [])]
        out = self._build(
            "agent", dept, now, from_name=name, to=[(ticket.customer_name, ticket.customer)],
            cc=cc, subject=reply_subject(dept.tag_word, ticket.id, ticket.subject), text=body,
            in_reply_to=last.message_id if last else None, references=refs, language=lang,
            attachments=attachments)
        enqueue(session, out, ticket=ticket, now=now)
        return out.message_id

    # -- to agents ------------------------------------------------------------------
    def notify_agents(self, session: Session, ticket: Ticket, dept: DepartmentConfig,
                      msg: Message, now: datetime, *, is_new: bool,
                      files: list[tuple[str, str, bytes]],
                      agents: list[str] | None = None, kind: str = "notification",
                      suspected_spoof: bool = False) -> None:
        """One mail per agent, each with its own unguessable Message-ID, so a reply proves who.

        ``files``: the attachments of the mail just parsed (``compose.files_of``).
        ``suspected_spoof``: the mail's From is an agent but nothing proves it; the agents
        are warned at the top that it is treated as a customer's.
        """
        if agents is None:
            agents = [ticket.assignee] if ticket.assignee else list(dept.agents)
        if not agents:
            return
        # The last five things people wrote, as they wrote them: an answer is the agent's
        # mail, not also the copy we relayed to the customer from the department address.
        history = [
            {"date": _stamp(m.date, self._tz(dept)), "direction": m.direction,
             "who": m.from_addr or "-", "kind": m.kind, "summary": compose.clean(m.text, 80)}
            for m in ticket.messages
            if m is not msg and m.kind in WRITTEN_BY_PEOPLE and m.direction == "in"
        ][-5:]
        customer = (f"{ticket.customer_name} <{ticket.customer}>" if ticket.customer_name
                    else ticket.customer)
        total = sum(int(a.get("size", 0)) for a in msg.attachments)
        if total > self.config.limits.notification_attachments_max:
            files = []
        text, _ = self._render(
            "notification.txt.j2", dept, [], marker=MARKER, is_new=is_new, kind=msg.kind,
            ref=tag(dept.tag_word, ticket.id), customer=customer, author=msg.from_addr,
            state=ticket.state, priority=ticket.priority, assignee=ticket.assignee,
            due_at=ticket.due_at, sla=sla_state(ticket, now), subject=msg.subject,
            text=msg.text, attachments=msg.attachments, attached=bool(files), history=history,
            customer_language=ticket.language, suspected_spoof=suspected_spoof, bouncing=[
                p.address for p in ticket.participants if p.bouncing])
        who = ticket.customer_name or ticket.customer
        if msg.kind in ("agent", "note"):
            who = msg.from_name or msg.from_addr
        reply_to = token_address(dept.address, ticket.id, self.secret)
        for out in self._build_each(
                kind, dept, now, from_name=f"{who} via {dept.sender_name}",
                each_to=[[("", agent)] for agent in agents],
                subject=ticket_subject(dept.tag_word, ticket.id, ticket.subject), text=text,
                reply_to=reply_to, in_reply_to=msg.message_id,
                references=[*msg.references, msg.message_id], language=dept.language,
                attachments=files):
            enqueue(session, out, ticket=ticket, now=now)

    def agent_error(self, session: Session, ticket: Ticket, dept: DepartmentConfig,
                    agent: str, msg: Message, errors: list[str], now: datetime) -> None:
        text, _ = self._render("agent_error.txt.j2", dept, [], errors=errors,
                               ref=tag(dept.tag_word, ticket.id), text=msg.text)
        out = self._build(
            "agent_error", dept, now, from_name=dept.sender_name, to=[("", agent)],
            subject=f"{_label(dept, 'not_sent')}: "
            + ticket_subject(dept.tag_word, ticket.id, ticket.subject),
            text=text, reply_to=token_address(dept.address, ticket.id, self.secret),
            in_reply_to=msg.message_id, references=[*msg.references, msg.message_id],
            language=dept.language)
        enqueue(session, out, ticket=ticket, now=now)

    def sla_notice(self, session: Session, ticket: Ticket, dept: DepartmentConfig, kind: str,
                   level: int, to: list[str], now: datetime) -> None:
        """A warning (promise about to break) or an escalation (broken), one mail per person."""
        last = self.last_customer_message(ticket)
        late = now - ticket.due_at if ticket.due_at and now > ticket.due_at else None
        left = ticket.due_at - now if ticket.due_at and now <= ticket.due_at else None
        text, _ = self._render(
            f"{kind}.txt.j2", dept, [], marker=MARKER, level=level,
            ref=tag(dept.tag_word, ticket.id), subject=ticket.subject,
            customer=(f"{ticket.customer_name} <{ticket.customer}>" if ticket.customer_name
                      else ticket.customer),
            asked=last.text if last else "", asked_at=last.date if last else None,
            due_at=ticket.due_at, late=_span(late, dept.language),
            left=_span(left, dept.language), state=ticket.state,
            priority=ticket.priority, assignee=ticket.assignee)
        label = _label(dept, "overdue" if kind == "escalation" else "due_soon")
        reply_to = token_address(dept.address, ticket.id, self.secret)
        for out in self._build_each(
                kind, dept, now, from_name=f"{dept.sender_name} SLA",
                each_to=[[("", person)] for person in to],
                subject=f"{label}: " + ticket_subject(dept.tag_word, ticket.id, ticket.subject),
                text=text, reply_to=reply_to, in_reply_to=last.message_id if last else None,
                references=[last.message_id] if last else [], language=dept.language):
            enqueue(session, out, ticket=ticket, now=now)


# Subject prefixes of agent-facing mails, in the department's language.
_LABELS = {
    "en": {"not_sent": "Not sent", "overdue": "Overdue", "due_soon": "Due soon"},
    "fr": {"not_sent": "Non envoyé", "overdue": "En retard", "due_soon": "Échéance proche"},
    "sv": {"not_sent": "Ej skickat", "overdue": "Försenat", "due_soon": "Snart förfallet"},
    "es": {"not_sent": "No enviado", "overdue": "Vencido", "due_soon": "Vence pronto"},
    "bg": {"not_sent": "Неизпратено", "overdue": "Просрочено", "due_soon": "Изтича скоро"},
    "de": {"not_sent": "Nicht gesendet", "overdue": "Überfällig", "due_soon": "Bald fällig"},
}


def _label(dept: DepartmentConfig, key: str) -> str:
    return _LABELS.get(dept.language, _LABELS["en"])[key]


def _stamp(instant: datetime, timezone: str) -> str:
    """"2026-11-23 10:15 CET": a history line's time in the department's zone, named, as
    the due time beside it is (the store keeps UTC, naive on SQLite)."""
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    local = instant.astimezone(ZoneInfo(timezone))
    zone = local.tzname() or ""
    if not zone.isalpha():  # "+03": the offset, written out
        minutes = int(local.utcoffset().total_seconds()) // 60  # type: ignore[union-attr]
        sign = "-" if minutes < 0 else "+"
        zone = "UTC" + (f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
                        if minutes else "")
    return f"{local:%Y-%m-%d %H:%M} {zone}"


def _span(delta: timedelta | None, language: str = "en") -> str | None:
    """'3 hours 30 minutes', '1 jour 2 heures' — how late, or how long is left."""
    if delta is None:
        return None
    minutes = max(0, int(delta.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    units = [(days, "day"), (hours, "hour"), (mins, "minute")]
    parts = [(n, unit) for n, unit in units if n] or [(0, "minute")]
    try:
        return " ".join(format_timedelta(timedelta(**{unit + "s": n}), granularity=unit,
                                         threshold=10**6, locale=language) for n, unit in parts)
    except (UnknownLocaleError, ValueError):
        return _span(delta) if language != "en" else str(delta)
