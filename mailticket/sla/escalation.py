"""Warnings before a promise breaks, escalations after: each notice exactly once.

Levels of a running clock: 1 the warning to agents (at ``warn_at``), 2 the breach
notice to ``escalate_to`` (at ``due_at``), 3… one more per ``sla.escalation``
entry, measured from the due instant.  The ticket keeps the level reached and
when the next one is due (``next_notice_at``, indexed); a notice is queued in
the outbox in the same transaction that moves the level, guarded by the level
it expects, so a restart or a second daemon never sends one twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from mailticket.config import Config, DepartmentConfig
from mailticket.outgoing.mailer import Mailer
from mailticket.sla.calendar import BusinessCalendar, parse_duration
from mailticket.store.db import Database
from mailticket.store.models import Ticket
from mailticket.store.writes import Writes, writing

log = logging.getLogger("mailticket.sla")

WARNING, BREACH = 1, 2


@dataclass(frozen=True)
class Notice:
    level: int
    kind: str          # warning | escalation
    at: datetime


def notice_for(level: int, warn_at: datetime, due_at: datetime, escalation: list[str],
               cal: BusinessCalendar) -> Notice | None:
    """The notice of ``level`` for a clock, or None past the last level.  Pure."""
    if level == WARNING:
        return Notice(WARNING, "warning", warn_at)
    if level == BREACH:
        return Notice(BREACH, "escalation", due_at)
    extra = level - BREACH - 1
    if 0 <= extra < len(escalation):
        return Notice(level, "escalation", cal.add(due_at, parse_duration(escalation[extra])))
    return None


class Escalator:
    def __init__(self, config: Config, db: Database, mailer: Mailer) -> None:
        self.config = config
        self.db = db
        self.mailer = mailer

    def _dept(self, name: str) -> DepartmentConfig | None:
        try:
            return self.config.department(name)
        except KeyError:
            return None

    def run(self, now: datetime, batch: int = 500) -> int:
        """Send every notice that is due at ``now``; returns how many were queued."""
        sent = 0
        with self.db.read() as s:
            ids = list(s.scalars(select(Ticket.id).where(
                Ticket.next_notice_at <= now).order_by(Ticket.next_notice_at).limit(batch)))
        for ticket_id in ids:
            with self.db.transaction() as s, writing(s) as w:
                sent += self._one(w, ticket_id, now)
        return sent

    def _one(self, w: Writes, ticket_id: int, now: datetime) -> int:
        s = w.session
        t = s.get(Ticket, ticket_id)
        if t is None or t.next_notice_at is None or t.next_notice_at > now:
            return 0  # answered or handled meanwhile
        dept = self._dept(t.department)
        if dept is None or t.due_at is None or t.warn_at is None:
            t.next_notice_at = None
            return 0
        sla = self.config.sla_for(dept)
        cal = self.config.calendar_for(dept)
        sent = 0
        level = t.escalation_level
        # Catch up: after downtime only the highest notice that is due goes out,
        # so a supervisor gets one mail, not a burst of stale warnings.
        target = None
        nxt = notice_for(level + 1, t.warn_at, t.due_at, sla.escalation, cal)
        while nxt is not None and nxt.at <= now:
            target = nxt
            nxt = notice_for(nxt.level + 1, t.warn_at, t.due_at, sla.escalation, cal)
        if target is not None:
            moved = s.execute(update(Ticket).where(
                Ticket.id == t.id, Ticket.escalation_level == level).values(
                escalation_level=target.level,
                next_notice_at=nxt.at if nxt else None))
            if moved.rowcount != 1:  # type: ignore[attr-defined]
                return 0  # another daemon got there first
            s.refresh(t)
            self._send(w, t, dept, target, now)
            sent = 1
        else:
            t.next_notice_at = nxt.at if nxt else None
        return sent

    def _send(self, w: Writes, t: Ticket, dept: DepartmentConfig, notice: Notice,
              now: datetime) -> None:
        if notice.kind == "warning":
            to = [t.assignee] if t.assignee else list(dept.agents)
        else:
            to = list(dept.escalate_to) or ([t.assignee] if t.assignee else list(dept.agents))
        self.mailer.sla_notice(w, t, dept, notice.kind, notice.level, to, now)
        w.event(t.id, f"sla_{notice.kind}", now, level=notice.level, to=to,
                due_at=t.due_at.isoformat() if t.due_at else None)
        log.warning("ticket %d: SLA %s (level %d) sent to %s", t.id, notice.kind,
                    notice.level, ", ".join(to))
