"""The mails a customer gets: the auto-response with its promise, the closed notice and
an agent's answer relayed from the department's address, each in the customer's
language and threaded into the customer's own conversation.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import Session

from mailticket.config import DepartmentConfig
from mailticket.mail.subject import reply_subject, tag
from mailticket.outgoing.notices import Notices
from mailticket.store.batch import record
from mailticket.store.models import Message, Ticket

log = logging.getLogger("mailticket.mailer")


def _answering(last: Message | None) -> dict[str, object]:
    """In-Reply-To and References of a mail that answers ``last`` (if any)."""
    if last is None:
        return {"in_reply_to": None, "references": []}
    return {"in_reply_to": last.message_id, "references": [*last.references, last.message_id]}


class CustomerMail(Notices):
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
            "auto_response", dept, [ticket.language or ""],
            customer_name=ticket.customer_name, ref=tag(dept.tag_word, ticket.id),
            subject=ticket.subject, due_at=ticket.due_at, ticket_id=ticket.id,
            calendar=self.config.calendar_for(dept), now=now)
        self._send(
            session, ticket, "auto_response", dept, now, from_name=dept.sender_name,
            each_to=[[(ticket.customer_name, ticket.customer)]],
            subject=reply_subject(dept.tag_word, ticket.id, msg.subject), text=text,
            **_answering(msg), language=lang)
        return True

    def closed_notice(self, session: Session, ticket: Ticket, dept: DepartmentConfig,
                      now: datetime) -> None:
        """Tell the customer the ticket is closed and that a reply reopens it."""
        if not dept.notify_customer_on_close or not ticket.customer:
            return
        text, lang = self._render(
            "closed_notice", dept, [ticket.language or ""],
            customer_name=ticket.customer_name, ref=tag(dept.tag_word, ticket.id),
            subject=ticket.subject)
        self._send(
            session, ticket, "closed_notice", dept, now, from_name=dept.sender_name,
            each_to=[[(ticket.customer_name, ticket.customer)]],
            subject=reply_subject(dept.tag_word, ticket.id, ticket.subject), text=text,
            **_answering(self.last_customer_message(ticket)), language=lang)

    def relay_answer(self, session: Session, ticket: Ticket, dept: DepartmentConfig,
                     agent: str, agent_name: str, text: str,
                     attachments: list[tuple[str, str, bytes]], now: datetime) -> str:
        """The agent's words to the customer, threaded into the customer's conversation."""
        body, lang = self._render("agent", dept, [ticket.language or ""], text=text,
                                  ref=tag(dept.tag_word, ticket.id), agent_name=agent_name)
        name = dept.sender_name if dept.hide_agent_names or not agent_name else (
            f"{agent_name} via {dept.sender_name}")
        cc = [(p.name, p.address) for p in ticket.participants
              if p.role == "cc" and p.address not in (agent, ticket.customer)]
        (out,) = self._send(
            session, ticket, "agent", dept, now, from_name=name,
            each_to=[[(ticket.customer_name, ticket.customer)]], cc=cc,
            subject=reply_subject(dept.tag_word, ticket.id, ticket.subject), text=body,
            **_answering(self.last_customer_message(ticket)), language=lang,
            attachments=attachments)
        return out.message_id
