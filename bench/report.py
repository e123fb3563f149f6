"""`mailticket report` over a large synthetic history, timed as the admin runs it.

A year of tickets written with Core ``executemany`` into a fresh SQLite database made
by the project's migrations: each ticket's first mail (``created``), an agent's answer
a few hours later (``answered``, then ``state_changed`` to pending), a follow-up on
one in five.  The finished days are summed as the daemon's hourly job sums them
(report/days.py).  Then ``mailticket report --json`` runs as a process over the last
month and over the whole year.

    python -m bench.report [--tickets 1000000] [--folder /tmp/report-bench]
"""

from __future__ import annotations

import argparse
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from mailticket import files
from mailticket.app import App
from mailticket.config import parse_config
from mailticket.sla import waits
from mailticket.store.models import Event, Ticket

CHUNK = 20_000
CONFIG = """secret = "bench"
[database]
url = "sqlite:///{db}"
[outgoing]
transport = "maildir"
maildir = "{folder}/sent"
[listener]
enabled = false
[[departments]]
name = "support"
address = "support@example.com"
agents = ["alice@example.com", "bob@example.com"]
[[departments]]
name = "sales"
address = "sales@example.com"
agents = ["carol@example.com"]
"""


def _history(n: int, now: datetime, seed: int = 7) -> tuple[list[Any], list[Any]]:
    rng = random.Random(seed)
    tickets, events = [], []
    for i in range(1, n + 1):
        created = now - timedelta(seconds=rng.randint(3600, 365 * 86400))
        answered = created + timedelta(minutes=rng.randint(10, 3 * 24 * 60))
        agent = rng.choice(("alice@example.com", "bob@example.com"))
        tickets.append({"id": i, "department": "support" if i % 5 else "sales",
                        "subject": f"t{i}", "customer": f"c{i % 50_000}@x.example",
                        "customer_name": "", "state": "pending", "priority": "normal",
                        "language": rng.choice(("en", "fr", "sv", "es", "bg", "de")),
                        "created_at": created, "updated_at": answered,
                        "escalation_level": 0})
        events += [{"ticket_id": i, "at": created, "kind": "created", "actor": "c",
                    "detail": {}},
                   {"ticket_id": i, "at": answered, "kind": "answered", "actor": agent,
                    "detail": {}},
                   {"ticket_id": i, "at": answered, "kind": "state_changed", "actor": agent,
                    "detail": {"old": "new", "new": "pending"}}]
        if i % 5 == 0:
            events.append({"ticket_id": i, "at": answered + timedelta(hours=2),
                           "kind": "customer_message", "actor": "c", "detail": {}})
    return tickets, events


def database(tickets: int, folder: Path) -> Path:
    """The config of a database holding ``tickets`` tickets of a year up to now, built
    once in ``folder`` and reused (its history ends when it was built)."""
    config = folder / "config.toml"
    done = folder / f"built-{tickets}"
    if done.exists():
        return config
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("x.db*"):
        old.unlink()
    config.write_text(CONFIG.format(db=folder / "x.db", folder=folder))
    files.make_private()
    app = App(parse_config(config.read_text(), str(config)))
    app.ensure_schema()
    now = datetime.now(UTC)
    t0 = time.monotonic()
    rows, events = _history(tickets, now)
    with app.db.transaction() as s:
        for i in range(0, len(rows), CHUNK):
            s.execute(insert(Ticket), rows[i:i + CHUNK])
        for i in range(0, len(events), CHUNK):
            s.execute(insert(Event), events[i:i + CHUNK])
    print(f"{tickets:,} tickets, {len(events):,} events written in "
          f"{time.monotonic() - t0:.0f} s")
    # Written behind the events' back: the report's tables made from them, as the
    # upgrade that added the tables makes them (sla/waits.py).
    t0, cpu = time.monotonic(), time.process_time()
    with app.db.transaction() as s:
        made = waits.rebuild(s, app.config)
    print(f"{made:,} waits rebuilt from the events in {time.monotonic() - t0:.0f} s "
          f"({time.process_time() - cpu:.0f} s CPU, in-process)")
    app.close()
    done.write_text(now.isoformat())
    return config


def sum_days(config: Path) -> None:
    """What the daemon's hourly job does (report/days.py): each finished day summed
    once.  Timed when it has work (the first run on this database)."""
    from mailticket.report import days

    app = App(parse_config(config.read_text(), str(config)))
    app.ensure_schema()
    t0, cpu = time.monotonic(), time.process_time()
    made = days.run(app.db, app.config, datetime.now(UTC))
    if made:
        print(f"{made:,} finished days summed and stored in {time.monotonic() - t0:.1f} s "
              f"({time.process_time() - cpu:.1f} s CPU, in-process, as the daemon's job)")
    app.close()


def timed(config: Path, *args: str, runs: int = 3) -> str:
    """The best of ``runs`` runs of ``mailticket ARGS`` as a process: wall clock, and the
    CPU time it used (on a shared machine the wall clock includes waiting for a core)."""
    best, cpu = float("inf"), float("inf")
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.monotonic()
        subprocess.run([sys.executable, "-m", "mailticket", "--config", str(config), *args],
                       check=True, stdout=subprocess.DEVNULL)
        best = min(best, time.monotonic() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = min(cpu, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return f"best {best:.2f} s wall, {cpu:.2f} s CPU, of {runs} (process start included)"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tickets", type=int, default=1_000_000)
    ap.add_argument("--folder", type=Path, default=None,
                    help="build the database here once and reuse it (default: a new temp dir)")
    args = ap.parse_args()
    folder = args.folder or Path(tempfile.mkdtemp(prefix="bench-report-"))
    config = database(args.tickets, folder)
    now = datetime.fromisoformat((folder / f"built-{args.tickets}").read_text())
    sum_days(config)
    for label, days in (("last 30 days", 30), ("last year", 366)):
        since = (now - timedelta(days=days)).date().isoformat()
        print(f"report --json, {label}: {timed(config, 'report', '--since', since, '--json')}")


if __name__ == "__main__":
    main()
