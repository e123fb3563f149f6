"""What the admin sees: tickets, one ticket's thread, mail-flow status.

The dictionaries here are the CLI's ``--json`` output; their field names are a
stable interface for scripts (see docs/cli.md).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from datetime import datetime
from email import message_from_bytes
from email.message import Message as EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session, object_session

from mailticket.config import Config
from mailticket.incoming.parse import parse
from mailticket.mail.subject import tag
from mailticket.outgoing.kinds import TO_STAFF
from mailticket.outgoing.outbox import pending_count
from mailticket.sla.state import sla_state
from mailticket.store.models import (
    Event,
    MailboxLease,
    MailboxState,
    OutboxItem,
    Quarantine,
    Ticket,
)


def _iso(dt: datetime | None, tz: str) -> str | None:
    return None if dt is None else dt.astimezone(ZoneInfo(tz)).isoformat(timespec="seconds")


def _tz(config: Config, department: str) -> str:
    try:
        d = config.department(department)
    except KeyError:
        return config.calendar.timezone
    return (d.calendar or config.calendar).timezone


def in_zone(config: Config, row: dict[str, Any], *fields: str) -> dict[str, Any]:
    """A row whose ISO instants (any offset) are given again in its department's timezone."""
    tz = _tz(config, row["department"]) if row.get("department") else config.calendar.timezone
    return {**row, **{f: _iso(datetime.fromisoformat(row[f]), tz) for f in fields if row[f]}}


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
    session = object_session(t)
    events: Iterable[Event] = session.scalars(select(Event).where(Event.ticket_id == t.id)
                             .order_by(Event.at, Event.id)) if session else []
    d["events"] = [{"at": _iso(e.at, tz), "kind": e.kind, "actor": e.actor,
                    "detail": _local_detail(e.detail, tz)} for e in events]
    return d


def _local_detail(detail: dict[str, Any], tz: str) -> dict[str, Any]:
    """An event's instants (``due_at`` of an SLA notice …) in the ticket's timezone too."""
    out = dict(detail)
    for k, v in detail.items():
        if k.endswith("_at") and isinstance(v, str):
            with contextlib.suppress(ValueError):
                out[k] = _iso(datetime.fromisoformat(v), tz)
    return out


# Events whose line a message already tells (or, for SLA notices, the other way round).
_TOLD_BY_MESSAGES = ("mail_sent", "customer_message", "answered", "note", "created")
_TOLD_BY_EVENTS = ("warning", "escalation")
# Mail to staff about the ticket: shown as one line per mail sent, not per copy.
AGENT_COPIES = tuple(k for k in TO_STAFF if k not in _TOLD_BY_EVENTS)


Key = tuple[datetime, int, int]


def timeline(d: dict[str, Any]) -> list[tuple[Key, list[str]]]:
    """``show``'s text: (sort key, lines) for each message, mail to agents and event."""
    out: list[tuple[Key, list[str]]] = []
    groups: list[tuple[Key, dict[str, Any]]] = []
    # Mail in is placed when it arrived (its event), not by the sender's Date header.
    arrived = {e["detail"]["message_id"]: e["at"] for e in d["events"]
               if isinstance(e["detail"].get("message_id"), str)}
    for i, m in enumerate(d["messages"]):
        when = arrived.get(m["message_id"], m["date"]) if m["direction"] == "in" else m["date"]
        key = (datetime.fromisoformat(when), 0, i)
        if m["direction"] == "out" and m["kind"] in _TOLD_BY_EVENTS:
            continue
        if m["direction"] == "out" and m["kind"] in AGENT_COPIES:
            last = groups[-1][1] if groups else None
            if last is not None and last["index"] == i - 1 and all(
                    last[k] == m[k] for k in ("kind", "date", "subject")):
                last["to"] += m["to"]
                last["index"] = i
            else:
                groups.append((key, {**m, "to": list(m["to"]), "index": i}))
            continue
        head = (f"--- #{i + 1} {m['date']}  {m['direction']} {m['kind']}  {m['from']} -> "
                f"{', '.join(m['to'])}")
        files = "".join(f"\n[attachment: {a['name']} ({a.get('type', '?')}, "
                        f"{a.get('size', '?')} B)]" for a in m["attachments"])
        out.append((key, ["", head, m["text"].rstrip() + files]))
    out += [(key, ["", f"--- {g['date']}  out {g['kind']} to {', '.join(g['to'])}"])
            for key, g in groups]
    for i, e in enumerate(d["events"]):
        if e["kind"] in _TOLD_BY_MESSAGES or e["kind"].endswith("_received"):
            continue
        by = f"  (by {e['actor']})" if e["actor"] not in ("system", "") else ""
        out.append(((datetime.fromisoformat(e["at"]), 1, i),
                    ["", f"--- {e['at']}  {event_text(e['kind'], e['detail'])}{by}"]))
    return out


def event_text(kind: str, detail: dict[str, Any]) -> str:
    """One event in words."""
    if kind in ("state_changed", "priority_changed", "language_changed"):
        return f"{kind.split('_')[0]} {detail.get('old') or '-'} -> {detail.get('new') or '-'}"
    if kind == "assigned":
        was = f" (was {detail['old']})" if detail.get("old") else ""
        return f"assigned to {detail.get('new') or 'nobody'}{was}"
    if kind.startswith("sla_"):
        return (f"SLA {kind[4:]} (level {detail.get('level')}) sent to "
                f"{', '.join(detail.get('to') or [])}")
    if kind == "suspected_spoof":
        return (f"suspected spoof: {detail.get('message_id')} came From an agent's address "
                "without proof; treated as the customer's")
    if kind == "time_spent":
        return f"time spent: {detail.get('minutes')} min"
    if kind == "mail_failed":
        return (f"mail {detail.get('kind', '')} to {', '.join(detail.get('to') or [])} "
                f"failed: {detail.get('error')}")
    rest = ", ".join(f"{k} {v}" for k, v in detail.items())
    return f"{kind.replace('_', ' ')}{': ' + rest if rest else ''}"


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
    # "mailboxes": the departments whose mailbox lease each holds (mailticket.leases).
    alive = running_daemons(session, dead_after=config.daemons.dead_after)
    held: dict[int, list[str]] = {}
    for dept, holder in session.execute(
            select(MailboxLease.department, MailboxLease.holder).where(
                MailboxLease.holder.in_([d.id for d in alive]))
            .order_by(MailboxLease.department)):
        held.setdefault(holder or 0, []).append(dept)
    daemons: list[dict[str, Any]] = [
        {"id": d.id, "host": d.host, "pid": d.pid, "command": d.command,
         "started_at": _iso(d.started_at, tz), "heartbeat_at": _iso(d.heartbeat_at, tz),
         "mailboxes": held.get(d.id, [])} for d in alive]
    return {"departments": depts, "outbox_depth": pending_count(session),
            "quarantined": quarantined, "daemons": daemons}


def outbox_rows(session: Session, config: Config) -> list[dict[str, Any]]:
    """Mail not sent yet, oldest first, in its ticket's department's timezone."""
    rows = []
    q = (select(OutboxItem, Ticket.department)
         .outerjoin(Ticket, Ticket.id == OutboxItem.ticket_id)
         .where(OutboxItem.sent_at.is_(None)).order_by(OutboxItem.id))
    for i, dept in session.execute(q):
        tz = _tz(config, dept) if dept else config.calendar.timezone
        rows.append({"id": i.id, "ticket_id": i.ticket_id, "kind": i.kind,
                     "message_id": i.message_id, "to": i.rcpt_to, "attempts": i.attempts,
                     "next_attempt_at": _iso(i.next_attempt_at, tz),
                     "failed": i.failed_at is not None, "last_error": i.last_error})
    return rows


def outbox_last_error(session: Session, config: Config) -> dict[str, Any] | None:
    """Why the mail still waiting was not sent the last time it was tried, if it was."""
    item = session.scalar(select(OutboxItem).where(
        OutboxItem.sent_at.is_(None), OutboxItem.failed_at.is_(None),
        OutboxItem.last_error.is_not(None)).order_by(OutboxItem.id.desc()).limit(1))
    if item is None:
        return None
    return {"error": item.last_error, "attempts": item.attempts,
            "next_attempt_at": _iso(item.next_attempt_at, config.calendar.timezone)}


def attachment_data(raw: bytes, index: int, size: int) -> bytes | None:
    """The bytes of a stored mail's ``index``-th attachment (as ``messages[].attachments``
    lists them), or None if the mail no longer yields them.

    Files sent as attachments come from the parser, as agents got them; inline parts
    (pasted screenshots) and attached mails, which the parser does not keep, from the
    same MIME part found again, checked against the size stored when the mail came in."""
    parsed = parse(raw)
    if index < len(parsed.attachments) and parsed.attachments[index].data is not None:
        return parsed.attachments[index].data
    parts = list(_attachment_parts(message_from_bytes(raw)))
    if len(parts) != len(parsed.attachments) or index >= len(parts):
        return None
    data, exact = parts[index]
    return data if not exact or len(data) == size else None


def _attachment_parts(part: EmailMessage) -> Iterator[tuple[bytes, bool]]:
    """Parts in the parser's order, each with its bytes and whether its size is exact."""
    payload = part.get_payload()
    ctype = part.get_content_type()
    if isinstance(payload, list):
        if ctype.startswith("multipart/"):
            for child in payload:
                if isinstance(child, EmailMessage):
                    yield from _attachment_parts(child)
        else:  # an attached mail or report: its serialised form (the stored size is rough)
            yield b"".join(m.as_bytes() for m in payload if isinstance(m, EmailMessage)), False
        return
    if ctype.startswith("multipart/") or (
            ctype in ("text/plain", "text/html")
            and part.get_content_disposition() != "attachment" and not part.get_filename()):
        return  # body text
    data = part.get_payload(decode=True)
    yield (data if isinstance(data, bytes) else b""), True
