"""What the admin sees: tickets, one ticket's thread, mail-flow status.

The dictionaries here are the CLI's ``--json`` output; their field names are a
stable interface for scripts (see docs/cli.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailticket.config import Config
from mailticket.mail.subject import tag
from mailticket.outbox import pending_count
from mailticket.sla.state import sla_state
from mailticket.store.models import MailboxState, Quarantine, Ticket


def _iso(dt: datetime | None, tz: str) -> str | None:
    return None if dt is None else dt.astimezone(ZoneInfo(tz)).isoformat()


def _tz(config: Config, department: str) -> str:
    try:
        d = config.department(department)
    except KeyError:
        return config.calendar.timezone
    return (d.calendar or config.calendar).timezone


def _ref(config: Config, t: Ticket) -> str:
    try:
        word = config.department(t.department).tag_word
    except KeyError:
        word = t.department.capitalize()
    return tag(word, t.id)


def ticket_dict(config: Config, t: Ticket, now: datetime) -> dict[str, Any]:
    tz = _tz(config, t.department)
    return {
        "id": t.id, "ref": _ref(config, t), "department": t.department, "subject": t.subject,
        "customer": t.customer, "state": t.state, "assignee": t.assignee,
        "priority": t.priority, "language": t.language,
        "created_at": _iso(t.created_at, tz), "updated_at": _iso(t.updated_at, tz),
        "due_at": _iso(t.due_at, tz), "sla": sla_state(t, now),
    }


def ticket_detail(config: Config, t: Ticket, now: datetime) -> dict[str, Any]:
    tz = _tz(config, t.department)
    d = ticket_dict(config, t, now)
    d["participants"] = [{"address": p.address, "name": p.name, "role": p.role}
                         for p in t.participants]
    d["messages"] = [{
        "direction": m.direction, "kind": m.kind, "from": m.from_addr, "to": m.to, "cc": m.cc,
        "subject": m.subject, "date": _iso(m.date, tz), "message_id": m.message_id,
        "text": m.text, "attachments": m.attachments,
    } for m in t.messages]
    return d


def list_tickets(session: Session, config: Config, now: datetime, *,
                 department: str | None = None, state: str | None = None,
                 overdue: bool = False, at_risk: bool = False) -> list[dict[str, Any]]:
    q = select(Ticket).order_by(Ticket.id)
    if department:
        q = q.where(Ticket.department == department)
    if state:
        q = q.where(Ticket.state == state)
    if overdue or at_risk:
        # Running clocks only (partial index on warn_at), most urgent first.
        q = q.where(Ticket.due_at.is_not(None), Ticket.warn_at <= now).order_by(None).order_by(
            Ticket.due_at, Ticket.id)
        if overdue and not at_risk:
            q = q.where(Ticket.due_at <= now)
        elif at_risk and not overdue:
            q = q.where(Ticket.due_at > now)
    return [ticket_dict(config, t, now) for t in session.scalars(q)]


def status(session: Session, config: Config, now: datetime) -> dict[str, Any]:
    from mailticket.daemons import running_daemons

    depts = []
    for d in config.departments:
        tz = (d.calendar or config.calendar).timezone
        mbox = session.scalar(select(MailboxState).where(MailboxState.department == d.name))
        count = select(func.count()).select_from(Ticket).where(Ticket.department == d.name)
        running = count.where(Ticket.due_at.is_not(None))  # partial index: clocks only
        depts.append({
            "department": d.name, "address": d.address,
            "imap": bool(d.imap),
            "last_fetch": _iso(mbox.last_success_at, tz) if mbox else None,
            "last_error": mbox.last_error if mbox else None,
            "last_error_at": _iso(mbox.last_error_at, tz) if mbox else None,
            "open": session.scalar(count.where(
                Ticket.state.in_(("new", "open", "pending")))) or 0,
            "at_risk": session.scalar(running.where(
                Ticket.warn_at <= now, Ticket.due_at > now)) or 0,
            "breached": session.scalar(running.where(Ticket.due_at <= now)) or 0,
        })
    quarantined = session.scalar(select(func.count()).select_from(Quarantine).where(
        Quarantine.resolved_at.is_(None))) or 0
    tz = config.calendar.timezone
    # "mailboxes": every daemon polls every mailbox today (Message-IDs keep each mail
    # once), so none holds one.
    daemons = [{"id": d.id, "host": d.host, "pid": d.pid, "command": d.command,
                "started_at": _iso(d.started_at, tz), "heartbeat_at": _iso(d.heartbeat_at, tz),
                "mailboxes": []} for d in running_daemons(session)]
    return {"departments": depts, "outbox_depth": pending_count(session),
            "quarantined": quarantined, "daemons": daemons}
