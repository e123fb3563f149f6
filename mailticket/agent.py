"""Agent replies: who counts as an agent, and what their reply does.

A mail is an agent's only when its From is an agent of the ticket's department
AND it proves it came through a mail that agent was sent: a valid token
address, or a reference to a notification sent to that very agent.  A forged
From alone stays a customer message and is logged as a suspected spoof.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailticket.actions import change_state
from mailticket.config import DepartmentConfig
from mailticket.faq import replies as faq_replies
from mailticket.incoming.addresses import usable
from mailticket.incoming.parse import ParsedMail
from mailticket.incoming.replies import Commands, new_text, split_commands
from mailticket.incoming.threading import Decision
from mailticket.outgoing.compose import files_of
from mailticket.outgoing.kinds import TO_STAFF
from mailticket.outgoing.mailer import Mailer
from mailticket.sla.clock import stop_clock
from mailticket.store.models import Message
from mailticket.store.records import AnyMessage, AnyTicket
from mailticket.store.writes import Writes

log = logging.getLogger("mailticket.agent")


def staff(dept: DepartmentConfig) -> set[str]:
    """Who may act on the department's tickets by mail: agents and escalation contacts."""
    return {a.lower() for a in [*dept.agents, *dept.escalate_to]}


def authentic_agent(session: Session, ticket: AnyTicket, dept: DepartmentConfig,
                    mail: ParsedMail, decision: Decision) -> str | None:
    sender = mail.from_.key if mail.from_ else ""
    if sender not in staff(dept):
        return None
    if decision.rule == "token":
        return sender
    ids: Sequence[str] = [*mail.in_reply_to, *mail.references]
    if ids:
        rows = session.scalars(select(Message.to).where(
            Message.ticket_id == ticket.id, Message.direction == "out",
            Message.kind.in_(TO_STAFF), Message.message_id.in_(list(ids))))
        if any(sender in (to or []) for to in rows):
            return sender
    return None


def _resolve_agent(dept: DepartmentConfig, who: str, me: str) -> str | None:
    if who.lower() == "me":
        return me
    for a in staff(dept):
        if who.lower() in (a, a.split("@", 1)[0]):
            return a
    return None


def handle_reply(writes: Writes, mailer: Mailer, ticket: AnyTicket, dept: DepartmentConfig,
                 mail: ParsedMail, agent: str, msg: AnyMessage, now: datetime) -> str:
    """Apply an authentic agent reply; returns what happened, for the log."""
    cmds, body = split_commands(new_text(mail.text))
    assignee = None
    if cmds.assign:
        assignee = _resolve_agent(dept, cmds.assign, agent)
        if assignee is None:
            cmds.errors.append(f"#assign {cmds.assign}: not an agent of {dept.name} "
                               f"(agents: {', '.join(sorted(staff(dept)))})")
    if not body and not cmds.seen:
        cmds.errors.append("the reply has no text of its own above the quoted notification")
    if body and not cmds.note and not usable(ticket.customer):
        # Never "relay" to <> and let the agent believe the customer heard them.
        cmds.errors.append(f"ticket #{ticket.id} has no customer address "
                           f"({ticket.customer or 'none'}): nothing can be sent; a reply "
                           "with only commands (#close, #note …) still works")
    msg.kind = "note" if cmds.note else "agent"
    msg.text = body
    if cmds.errors:
        msg.verdict = "agent reply rejected: " + "; ".join(cmds.errors)
        writes.event(ticket.id, "agent_reply_rejected", now, agent, errors=cmds.errors,
               message_id=msg.message_id)
        mailer.agent_error(writes, ticket, dept, agent, msg, cmds.errors, now)
        log.warning("%s agent reply from %s rejected: %s", msg.message_id, agent, cmds.errors)
        return "rejected"

    _apply(writes, ticket, cmds, assignee, agent, now)
    if cmds.note:
        others = [a for a in dept.agents if a.lower() != agent]
        mailer.notify_agents(writes, ticket, dept, msg, now, is_new=False,
                             files=files_of(mail), agents=others, kind="note")
        writes.event(ticket.id, "note", now, agent, message_id=msg.message_id)
        return "note"
    if not body:
        if cmds.close:
            mailer.closed_notice(writes, ticket, dept, now)
        return "commands"
    name = (mail.from_.name if mail.from_ else "") or ""
    sent_id = mailer.relay_answer(writes, ticket, dept, agent, name, body,
                                  files_of(mail), now)
    writes.event(ticket.id, "answered", now, agent, message_id=msg.message_id,
                 relayed_as=sent_id, waited_from=ticket.clock_started_at.isoformat()
                 if ticket.clock_started_at else None)
    if cmds.faq:
        faq_replies.draft_from_answer(writes, ticket, dept, agent, msg, body, now)
    stop_clock(ticket, now)
    if not (cmds.close or cmds.reopen):
        change_state(writes, ticket, "pending", agent, now)
    if dept.copy_answers_to_agents:
        others = [a for a in dept.agents if a.lower() != agent]
        mailer.notify_agents(writes, ticket, dept, msg, now, is_new=False,
                             files=files_of(mail), agents=others, kind="agent_copy")
    return "relayed"


def _apply(writes: Writes, ticket: AnyTicket, cmds: Commands, assignee: str | None,
           agent: str, now: datetime) -> None:
    ticket.updated_at = now
    if cmds.minutes is not None:  # read by `staffing` as the recorded handle time
        writes.event(ticket.id, "time_spent", now, agent, minutes=cmds.minutes)
    if assignee and assignee != ticket.assignee:
        writes.event(ticket.id, "assigned", now, agent, old=ticket.assignee, new=assignee)
        ticket.assignee = assignee
    if cmds.priority and cmds.priority != ticket.priority:
        writes.event(ticket.id, "priority_changed", now, agent, old=ticket.priority,
               new=cmds.priority)
        ticket.priority = cmds.priority
    if cmds.close:
        change_state(writes, ticket, "closed", agent, now)
    elif cmds.pending:
        change_state(writes, ticket, "pending", agent, now)
    elif cmds.reopen:
        change_state(writes, ticket, "open", agent, now)
