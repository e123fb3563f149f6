"""Retention: closed tickets older than ``closed_after`` lose their content, daily in the
daemon or now with ``mailticket purge``.

A ticket's age is counted from its last change (``updated_at``: closing it is its last
change unless it is touched again).  Tickets are erased in batches, each its own
transaction, so a running daemon waits for one batch at most.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailticket.config import Config
from mailticket.customers.forget import erase_tickets
from mailticket.customers.redact import PSEUDONYM_DOMAIN
from mailticket.store.db import Database
from mailticket.store.models import Ticket

log = logging.getLogger("mailticket.retention")

BATCH = 1000


def due(s: Session, config: Config, now: datetime) -> list[Ticket]:
    """Closed tickets past their department's ``closed_after``, not yet erased."""
    out: list[Ticket] = []
    for dept in config.departments:
        period = config.retention_for(dept).closed_after_period
        if period is None:
            continue
        out += s.scalars(select(Ticket).where(
            Ticket.department == dept.name, Ticket.state == "closed",
            Ticket.updated_at < now - period,
            Ticket.customer.not_like(f"%@{PSEUDONYM_DOMAIN}")).order_by(Ticket.id))
    return out


def enabled(config: Config) -> bool:
    return any(config.retention_for(d).closed_after for d in config.departments)


def purge(db: Database, config: Config, now: datetime, dry_run: bool = False) -> dict[str, Any]:
    """What retention erases now (with ``dry_run``, what it would erase)."""
    from mailticket.views import _iso, _ref  # here: a daemon without retention (0.9 MB)

    with db.read() as s:
        rows: list[dict[str, Any]] = [
            {"id": t.id, "ref": _ref(config, t), "department": t.department,
             "closed_at": _iso(t.updated_at, config.calendar.timezone)}
            for t in due(s, config, now)]
    ids = [int(r["id"]) for r in rows]
    if not dry_run:
        for i in range(0, len(ids), BATCH):
            erase_tickets(db, config, ids[i:i + BATCH], now, reason="retention")
        if ids:
            log.info("retention: erased the content of %d closed ticket(s)", len(ids))
    return {"dry_run": dry_run, "count": len(rows), "tickets": rows}


def run(app: Any) -> bool:
    """The daemon's job: apply the policy now; never more to do right away."""
    purge(app.db, app.config, app.clock.now())
    return False
