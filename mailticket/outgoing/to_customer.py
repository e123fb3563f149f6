"""The mails a customer gets: the auto-response with its promise, the closed notice and
an agent's answer relayed from the department's address, each in the customer's
language and threaded into the customer's own conversation.
"""

from __future__ import annotations

import logging
from datetime import datetime

from mailticket.config import DepartmentConfig
from mailticket.faq.ahead import Ahead
from mailticket.mail.subject import reply_subject, tag
from mailticket.outgoing import compose
from mailticket.outgoing.notices import Notices
from mailticket.store.records import AnyMessage, AnyTicket
from mailticket.store.writes import Writes

log = logging.getLogger("mailticket.mailer")


def _answering(last: AnyMessage | None) -> dict[str, object]:
    """In-Reply-To and References of a mail that answers ``last`` (if any)."""
    if last is None:
        return {"in_reply_to": None, "references": []}
    return {"in_reply_to": last.message_id, "references": [*last.references, last.message_id]}


class CustomerMail(Notices):
    def _to_customer(self, writes: Writes, ticket: AnyTicket, kind: str,
                     dept: DepartmentConfig, now: datetime, *, answering: AnyMessage | None,
                     subject: str, context: dict[str, object], from_name: str | None = None,
                     **send: object) -> compose.Outgoing:
        """One mail to the ticket's customer, in their language, from the department,
        answering their mail ``answering`` (In-Reply-To, References, "Re: [Ref] subject")."""
        text, lang = self._render(kind, dept, [ticket.language or ""],
                                  ref=tag(dept.tag_word, ticket.id), **context)
        (out,) = self._send(
            writes, ticket, kind, dept, now, from_name=from_name or dept.sender_name,
            each_to=[[(ticket.customer_name, ticket.customer)]],
            subject=reply_subject(dept.tag_word, ticket.id, subject), text=text,
            **_answering(answering), language=lang, **send)
        return out

    def auto_response(self, writes: Writes, ticket: AnyTicket, dept: DepartmentConfig,
                      msg: AnyMessage, now: datetime, sent: int,
                      faq_ahead: Ahead | None = None) -> bool:
        """Acknowledge a new ticket, with the promise — unless this sender had enough today
        (``sent`` auto-responses in the last 24 hours, as the ingest batch counted them).
        ``faq_ahead``: a parse worker's FAQ match of the mail, if it made one."""
        if not ticket.customer:
            return False
        limit = self.config.limits.auto_responses_per_sender_per_day
        if sent >= limit:
            log.warning("%s no auto-response: %s had %d in 24 h (limit %d)",
                        msg.message_id, ticket.customer, sent, limit)
            writes.event(ticket.id, "auto_response_suppressed", now,
                         reason=f"{sent} auto-responses in 24 h")
            return False
        faq = self.faq.for_new_ticket(writes, ticket.id, dept.name, ticket.language,
                                      msg.text, now, subject=ticket.subject,
                                      ahead=faq_ahead)
        self._to_customer(writes, ticket, "auto_response", dept, now, answering=msg,
                          subject=msg.subject, context=dict(
                              customer_name=ticket.customer_name, subject=ticket.subject,
                              due_at=ticket.due_at, ticket_id=ticket.id, faq=faq,
                              calendar=self.config.calendar_for(dept), now=now))
        return True

    def closed_notice(self, writes: Writes, ticket: AnyTicket, dept: DepartmentConfig,
                      now: datetime) -> None:
        """Tell the customer the ticket is closed and that a reply reopens it."""
        if not dept.notify_customer_on_close or not ticket.customer:
            return
        self._to_customer(writes, ticket, "closed_notice", dept, now,
                          answering=self.last_customer_message(ticket), subject=ticket.subject,
                          context=dict(customer_name=ticket.customer_name,
                                       subject=ticket.subject))

    def relay_answer(self, writes: Writes, ticket: AnyTicket, dept: DepartmentConfig,
                     agent: str, agent_name: str, text: str,
                     attachments: list[tuple[str, str, bytes]], now: datetime) -> str:
        """The agent's words to the customer, threaded into the customer's conversation."""
        name = dept.sender_name if dept.hide_agent_names or not agent_name else (
            f"{agent_name} via {dept.sender_name}")
        cc = [(p.name, p.address) for p in ticket.participants
              if p.role == "cc" and p.address not in (agent, ticket.customer)]
        out = self._to_customer(writes, ticket, "agent", dept, now,
                                answering=self.last_customer_message(ticket),
                                subject=ticket.subject, from_name=name, cc=cc,
                                attachments=attachments,
                                context=dict(text=text, agent_name=agent_name))
        return out.message_id

    def feedback_request(self, writes: Writes, ticket: AnyTicket, dept: DepartmentConfig,
                         now: datetime) -> None:
        """"How did we do?": answer with a number from 1 to 5 (``feedback/``)."""
        self._to_customer(writes, ticket, "feedback_request", dept, now,
                          answering=self.last_customer_message(ticket), subject=ticket.subject,
                          context=dict(customer_name=ticket.customer_name,
                                       subject=ticket.subject))
