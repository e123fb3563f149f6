"""The mails agents and escalation contacts get: notifications of a ticket's mail (and
copies of notes and answers), errors in an agent's reply, SLA warnings and escalations.

Each goes one copy per person with its own Message-ID and the ticket's token address
as Reply-To, in the department's language, so that a reply proves who wrote it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from babel.core import UnknownLocaleError
from babel.dates import format_timedelta

from mailticket import languages
from mailticket.config import DepartmentConfig
from mailticket.feedback.grade import Grade
from mailticket.mail.subject import tag, ticket_subject
from mailticket.mail.tokens import token_address
from mailticket.outgoing import compose
from mailticket.outgoing.kinds import KINDS
from mailticket.outgoing.notices import Notices
from mailticket.sla.state import sla_state
from mailticket.store.batch import WRITTEN_BY_PEOPLE
from mailticket.store.records import AnyMessage, AnyTicket
from mailticket.store.writes import Writes

MARKER = "##- Please type your reply above this line -##"


class StaffMail(Notices):
    def notify_agents(self, writes: Writes, ticket: AnyTicket, dept: DepartmentConfig,
                      msg: AnyMessage, now: datetime, *, is_new: bool,
                      files: list[tuple[str, str, bytes]],
                      agents: list[str] | None = None, kind: str = "notification",
                      suspected_spoof: bool = False, solved_by_faq: bool = False) -> None:
        """One mail per agent, each with its own unguessable Message-ID, so a reply proves who.

        ``files``: the attachments of the mail just parsed (``compose.files_of``).
        ``suspected_spoof``: the mail's From is an agent but nothing proves it; the agents
        are warned at the top that it is treated as a customer's.
        ``solved_by_faq``: the customer said SOLVED after FAQ suggestions: the ticket closed.
        """
        faq = self.faq.shown(ticket.id) if is_new else []
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
        total = sum(int(a.get("size", 0)) for a in msg.attachments)
        if total > self.config.limits.notification_attachments_max:
            files = []
        text, _ = self._render(
            kind, dept, [], marker=MARKER, is_new=is_new, kind=msg.kind,
            ref=tag(dept.tag_word, ticket.id), customer=_customer(ticket),
            author=msg.from_addr, state=ticket.state, priority=ticket.priority,
            assignee=ticket.assignee, due_at=ticket.due_at, sla=sla_state(ticket, now),
            subject=msg.subject, text=msg.text, attachments=msg.attachments,
            attached=bool(files), history=history, customer_language=ticket.language,
            suspected_spoof=suspected_spoof, faq=faq, solved_by_faq=solved_by_faq, bouncing=[
                p.address for p in ticket.participants if p.bouncing])
        who = ticket.customer_name or ticket.customer
        if msg.kind in ("agent", "note"):
            who = msg.from_name or msg.from_addr
        self._send(
            writes, ticket, kind, dept, now, from_name=f"{who} via {dept.sender_name}",
            each_to=[[("", agent)] for agent in agents],
            subject=ticket_subject(dept.tag_word, ticket.id, ticket.subject), text=text,
            reply_to=token_address(dept.address, ticket.id, self.secret),
            in_reply_to=msg.message_id, references=[*msg.references, msg.message_id],
            language=dept.language, attachments=files)

    def agent_error(self, writes: Writes, ticket: AnyTicket, dept: DepartmentConfig,
                    agent: str, msg: AnyMessage, errors: list[str], now: datetime) -> None:
        """What in an agent's reply could not be done, and that nothing was sent."""
        text, _ = self._render("agent_error", dept, [], errors=errors,
                               ref=tag(dept.tag_word, ticket.id), text=msg.text)
        self._send(
            writes, ticket, "agent_error", dept, now, from_name=dept.sender_name,
            each_to=[[("", agent)]], subject=_subject("agent_error", dept, ticket),
            text=text, reply_to=token_address(dept.address, ticket.id, self.secret),
            in_reply_to=msg.message_id, references=[*msg.references, msg.message_id],
            language=dept.language)

    def sla_notice(self, writes: Writes, ticket: AnyTicket, dept: DepartmentConfig, kind: str,
                   level: int, to: list[str], now: datetime) -> None:
        """A warning (promise about to break) or an escalation (broken), one mail per person."""
        last = self.last_customer_message(ticket)
        late = now - ticket.due_at if ticket.due_at and now > ticket.due_at else None
        left = ticket.due_at - now if ticket.due_at and now <= ticket.due_at else None
        text, _ = self._render(
            kind, dept, [], marker=MARKER, level=level,
            ref=tag(dept.tag_word, ticket.id), subject=ticket.subject,
            customer=_customer(ticket),
            asked=last.text if last else "", asked_at=last.date if last else None,
            due_at=ticket.due_at, late=_span(late, dept.language),
            left=_span(left, dept.language), state=ticket.state,
            priority=ticket.priority, assignee=ticket.assignee)
        self._send(
            writes, ticket, kind, dept, now, from_name=f"{dept.sender_name} SLA",
            each_to=[[("", person)] for person in to], subject=_subject(kind, dept, ticket),
            text=text, reply_to=token_address(dept.address, ticket.id, self.secret),
            in_reply_to=last.message_id if last else None,
            references=[last.message_id] if last else [], language=dept.language)


    def feedback_low(self, writes: Writes, ticket: AnyTicket, dept: DepartmentConfig,
                     grade: Grade, to: list[str], now: datetime) -> None:
        """A low grade, to the agents who answered: the customer may still need something."""
        text, _ = self._render(
            "feedback_low", dept, [], marker=MARKER, ref=tag(dept.tag_word, ticket.id),
            grade=grade.value, comment=grade.comment, customer=_customer(ticket),
            subject=ticket.subject, answered_by=to)
        self._send(
            writes, ticket, "feedback_low", dept, now, from_name=f"{dept.sender_name}",
            each_to=[[("", person)] for person in to],
            subject=_subject("feedback_low", dept, ticket), text=text,
            reply_to=token_address(dept.address, ticket.id, self.secret),
            language=dept.language)

def _customer(ticket: AnyTicket) -> str | None:
    """"Marie Dupont <marie@example.com>", or the bare address."""
    if ticket.customer_name:
        return f"{ticket.customer_name} <{ticket.customer}>"
    return ticket.customer


def _subject(kind: str, dept: DepartmentConfig, ticket: AnyTicket) -> str:
    """"Overdue: [Support #12] Printer on fire", the prefix in the department's language."""
    key = KINDS[kind].subject_label
    assert key is not None, kind
    label = languages.get(dept.language).subject_label(key)
    return f"{label}: " + ticket_subject(dept.tag_word, ticket.id, ticket.subject)


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
    units: list[tuple[int, Literal["day", "hour", "minute"]]] = [
        (days, "day"), (hours, "hour"), (mins, "minute")]
    parts = [(n, unit) for n, unit in units if n] or [(0, "minute")]
    try:
        return " ".join(format_timedelta(timedelta(**{unit + "s": n}), granularity=unit,
                                         threshold=10**6, locale=language) for n, unit in parts)
    except (UnknownLocaleError, ValueError):
        return _span(delta) if language != "en" else str(delta)
