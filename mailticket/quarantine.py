"""Mail the pipeline could not handle: listed with its reason, retried after a fix."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from mailticket.app import App
from mailticket.pipeline import Outcome
from mailticket.store.models import Quarantine


class QuarantineError(Exception):
    pass


def listing(app: App, include_resolved: bool = False) -> list[dict[str, Any]]:
    with app.db.transaction() as s:
        q = select(Quarantine).order_by(Quarantine.id)
        if not include_resolved:
            q = q.where(Quarantine.resolved_at.is_(None))
        return [{"id": r.id, "at": r.at.isoformat(), "source": r.source,
                 "department": r.department, "reason": r.reason, "size": len(r.raw),
                 "resolved_at": r.resolved_at.isoformat() if r.resolved_at else None}
                for r in s.scalars(q)]


def retry(app: App, item_id: int) -> Outcome:
    """Run the raw mail through the pipeline again; mark the item resolved if it passes.

    The retry and the resolved mark are two transactions: a crash between them
    leaves the item listed, and a second retry finds the Message-ID stored and
    reports a duplicate — nothing is processed twice.
    """
    with app.db.transaction() as s:
        item = s.get(Quarantine, item_id)
        if item is None:
            raise QuarantineError(f"no quarantined mail {item_id}")
        if item.resolved_at is not None:
            raise QuarantineError(f"quarantined mail {item_id} was resolved already")
        raw, department, source = item.raw, item.department, item.source
    outcome = app.ingest_once(raw, department=department, source=f"{source} (retry)")
    if outcome.action != "quarantined":
        with app.db.transaction() as s:
            row = s.get(Quarantine, item_id)
            assert row is not None
            row.resolved_at = app.clock.now()
    return outcome
