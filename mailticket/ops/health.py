"""``mailticket health``: is mail flowing?  One verdict for Nagios and systemd.

``gather`` reads the facts from the database (nothing else: it works with or without
a daemon); ``judge`` turns them into checks (pure).  Thresholds are in
``HealthConfig``; docs/deploy.md says what each check means.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailticket.config import Config
from mailticket.store.models import (
    DaemonRecord,
    MailboxState,
    OutboxItem,
    Quarantine,
    Ticket,
)

Status = Literal["ok", "warning", "critical"]
_ORDER: tuple[Status, ...] = ("ok", "warning", "critical")
_RANK = {s: i for i, s in enumerate(_ORDER)}


@dataclass(frozen=True)
class Mailbox:
    department: str
    poll_interval: float              # seconds
    last_success_at: datetime | None
    last_error_at: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class Facts:
    now: datetime
    mailboxes: list[Mailbox]
    listener: bool                    # the built-in listener is configured
    daemons_alive: int                # `mailticket run` processes with a fresh heartbeat
    daemons_silent: list[str]         # "host pid 123": registered, heartbeat gone
    outbox_oldest: datetime | None    # the oldest mail waiting to be sent
    outbox_waiting: int
    outbox_failed_today: int          # given up on in the last 24 h
    quarantined: int                  # unresolved
    quarantined_today: int
    breached: dict[str, int] = field(default_factory=dict)  # per department


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str


def _age(now: datetime, then: datetime) -> str:
    seconds = int((now - then).total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def _fetch(box: Mailbox, now: datetime, daemons: int) -> Check:
    name = f"fetch:{box.department}"
    if box.last_error_at and (box.last_success_at is None or
                              box.last_error_at > box.last_success_at):
        since = f"since {_age(now, box.last_success_at)}" if box.last_success_at else "ever"
        return Check(name, "critical", f"the last fetch failed {_age(now, box.last_error_at)} "
                     f"ago: {box.last_error} (no mail fetched {since})")
    if box.last_success_at is None:
        status: Status = "critical" if daemons else "warning"
        return Check(name, status, "never fetched" + ("" if daemons else " (no daemon runs)"))
    age = (now - box.last_success_at).total_seconds()
    late = f"last fetched {_age(now, box.last_success_at)} ago (polls every " \
           f"{box.poll_interval:g} s)"
    if age > 10 * box.poll_interval + 60:
        return Check(name, "critical", late)
    if age > 3 * box.poll_interval + 30:
        return Check(name, "warning", late)
    return Check(name, "ok", f"last fetched {_age(now, box.last_success_at)} ago")


def judge(f: Facts) -> list[Check]:
    """Every check, in a fixed order: fetches, daemons, outbox, quarantine, breaches."""
    checks = [_fetch(box, f.now, f.daemons_alive) for box in f.mailboxes]
    needs_daemon = bool(f.mailboxes) or f.listener
    if f.daemons_alive:
        status: Status = "warning" if f.daemons_silent else "ok"
        detail = f"{f.daemons_alive} running"
        if f.daemons_silent:
            detail += "; stopped without deregistering: " + ", ".join(f.daemons_silent)
    else:
        status = "critical" if needs_daemon else "ok"
        detail = "no `mailticket run` has a fresh heartbeat" + (
            ": nothing fetches or listens" if needs_daemon else "")
    checks.append(Check("daemons", status, detail))
    if f.outbox_oldest is None:
        out = Check("outbox", "warning" if f.outbox_failed_today else "ok",
                    "empty" + (f"; {f.outbox_failed_today} given up on in 24 h"
                               if f.outbox_failed_today else ""))
    else:
        waited = (f.now - f.outbox_oldest).total_seconds()
        status = "critical" if waited > 3600 else "warning" if waited > 300 else "ok"
        out = Check("outbox", status, f"{f.outbox_waiting} waiting, the oldest for "
                    f"{_age(f.now, f.outbox_oldest)}"
                    + (f"; {f.outbox_failed_today} given up on in 24 h"
                       if f.outbox_failed_today else ""))
    checks.append(out)
    checks.append(Check(
        "quarantine", "warning" if f.quarantined_today else "ok",
        f"{f.quarantined_today} quarantined in 24 h, {f.quarantined} unresolved"
        + (" (see `mailticket quarantine`)" if f.quarantined_today else "")))
    for dept, n in f.breached.items():
        checks.append(Check(f"sla:{dept}", "warning" if n else "ok",
                            f"{n} ticket(s) past their promise" if n else "no ticket late"))
    return checks


def verdict(checks: list[Check]) -> Status:
    return _ORDER[max((_RANK[c.status] for c in checks), default=0)]


def gather(session: Session, config: Config, now: datetime) -> Facts:
    """The facts, read from the database: a handful of indexed queries."""
    from mailticket.daemons import running_daemons

    states = {m.department: m for m in session.scalars(select(MailboxState))}
    boxes = []
    for d in config.departments:
        if d.imap is None:
            continue
        m = states.get(d.name)
        boxes.append(Mailbox(d.name, d.imap.poll_interval, m.last_success_at if m else None,
                             m.last_error_at if m else None, m.last_error if m else None))
    alive = [r for r in running_daemons(session, now, config.daemons.dead_after)
             if r.command == "run"]
    alive_ids = {r.id for r in alive}
    silent = [f"{r.host} pid {r.pid}" for r in session.scalars(select(DaemonRecord).where(
        DaemonRecord.command == "run",
        DaemonRecord.heartbeat_at < now - timedelta(seconds=config.daemons.dead_after)))
        if r.id not in alive_ids]
    waiting = (OutboxItem.sent_at.is_(None), OutboxItem.failed_at.is_(None))
    day = now - timedelta(days=1)
    count = select(func.count()).select_from
    breached = {}
    for d in config.departments:
        breached[d.name] = session.scalar(count(Ticket).where(
            Ticket.department == d.name, Ticket.due_at.is_not(None),
            Ticket.due_at <= now)) or 0
    return Facts(
        now=now, mailboxes=boxes, listener=config.listener.enabled,
        daemons_alive=len(alive), daemons_silent=silent,
        outbox_oldest=session.scalar(select(func.min(OutboxItem.created_at)).where(*waiting)),
        outbox_waiting=session.scalar(count(OutboxItem).where(*waiting)) or 0,
        outbox_failed_today=session.scalar(count(OutboxItem).where(
            OutboxItem.failed_at >= day)) or 0,
        quarantined=session.scalar(count(Quarantine).where(
            Quarantine.resolved_at.is_(None))) or 0,
        quarantined_today=session.scalar(count(Quarantine).where(Quarantine.at >= day)) or 0,
        breached=breached)


def as_json(checks: list[Check]) -> dict[str, Any]:
    return {"status": verdict(checks),
            "checks": [{"name": c.name, "status": c.status, "detail": c.detail}
                       for c in checks]}
