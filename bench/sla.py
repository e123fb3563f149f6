"""The SLA queries over a large synthetic ticket table.

Tickets are written with SQLAlchemy Core ``executemany`` into a fresh SQLite database
(schema by the project's own migrations).  The mix, as in a helpdesk that has run for
years: 85 % closed (last clock met or breached), 10 % answered and waiting on nobody,
5 % with a running clock, almost all on track; 0.03 % at risk and 0.03 % breached, so
the overdue/at-risk listing returns a few hundred rows per million, as an admin
would see.  Nothing is due for the escalation scan (the notices were sent), so it
measures the scan itself.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from mailticket import views
from mailticket.app import App
from mailticket.store.models import Ticket

CHUNK = 20_000


@dataclass
class Timing:
    median_ms: float
    rows: int


@dataclass
class SlaResult:
    tickets: int
    insert_seconds: float
    count: Timing
    listing: Timing
    escalation: Timing


def _rows(n: int, now: datetime, seed: int) -> Any:
    rng = random.Random(seed)
    day = timedelta(days=1)
    for i in range(n):
        created = now - timedelta(seconds=rng.randint(0, 3 * 365 * 86400))
        dept = "support" if rng.random() < 0.6 else "sales"
        row: dict[str, Any] = {
            "department": dept, "subject": f"Synthetic ticket {i}",
            "customer": f"c{rng.randrange(n // 3 + 1)}@customer-{rng.randrange(40)}.example",
            "customer_name": "", "state": "closed", "priority": "normal",
            "created_at": created, "updated_at": created + day, "clock_started_at": None,
            "warn_at": None, "due_at": None, "answered_at": created + timedelta(hours=5),
            "last_due_at": created + day, "escalation_level": 0, "next_notice_at": None,
        }
        roll = rng.random()
        if roll < 0.85:
            pass
        elif roll < 0.95:
            row["state"] = rng.choice(("open", "pending"))
        else:
            # A running clock for a one-day promise, started less than 3/4 day ago (on
            # track), except for the few at risk or breached.
            started = now - timedelta(seconds=rng.randint(0, 60000))
            late = rng.random()
            if late < 0.006:  # breached: the promise is gone, both notices sent
                started = now - 2 * day
                row["escalation_level"] = 2
                row["next_notice_at"] = started + 3 * day
            elif late < 0.012:  # at risk: warned, due within the next hours
                started = now - timedelta(hours=20)
                row["escalation_level"] = 1
                row["next_notice_at"] = started + day
            row.update(state=rng.choice(("new", "open")), clock_started_at=started,
                       warn_at=started + day * 0.75, due_at=started + day, answered_at=None,
                       last_due_at=None, created_at=min(created, started), updated_at=started)
            if row["next_notice_at"] is None:
                row["next_notice_at"] = row["warn_at"]
        yield row


def fill(app: App, n: int, now: datetime, seed: int = 1) -> float:
    """Insert n tickets; returns the seconds it took."""
    start = time.perf_counter()
    rows = _rows(n, now, seed)
    with app.db.engine.begin() as conn:
        while True:
            chunk = [r for _, r in zip(range(CHUNK), rows, strict=False)]
            if not chunk:
                break
            conn.execute(insert(Ticket.__table__), chunk)
    with app.db.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    return time.perf_counter() - start


def _median(fn: Callable[[], int], runs: int) -> Timing:
    rows = fn()  # warm the page cache and the statement cache
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        rows = fn()
        times.append(time.perf_counter() - start)
    return Timing(statistics.median(times) * 1000, rows)


def measure(app: App, n: int, runs: int = 7, seed: int = 1) -> SlaResult:
    now = datetime.now(UTC)
    seconds = fill(app, n, now, seed)
    config = app.config

    def count() -> int:
        with app.db.read() as s:
            st = views.status(s, config, now)
        return sum(d["at_risk"] + d["breached"] for d in st["departments"])

    def listing() -> int:
        with app.db.read() as s:
            return len(views.list_tickets(s, config, now, overdue=True, at_risk=True))

    def escalation() -> int:
        return app.escalator.run(now)

    return SlaResult(n, seconds, _median(count, runs), _median(listing, runs),
                     _median(escalation, runs))
