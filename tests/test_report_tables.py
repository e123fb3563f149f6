"""The report summed in SQL from the waits and milestones tables gives what the replay
of the events gives (the slow way, kept as the reference), on a varied history: many
tickets over two months across the end of summer time and two French holidays,
follow-ups, answers by two agents, #pending, closes, reopens and language changes,
written a few events per transaction as the daemon writes them; over several periods
and report instants.  Rebuilding the tables from the events gives the same rows."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from mailticket import report as reports
from mailticket.sla import waits
from mailticket.store.models import Milestone, Ticket, Wait
from mailticket.store.writes import writing
from tests.corpora import HELPDESK_DOMAIN, throwaway_app
from tests.test_report import CALENDAR

START = datetime(2026, 10, 1, tzinfo=UTC)
AGENTS = (f"alice@{HELPDESK_DOMAIN}", f"bob@{HELPDESK_DOMAIN}")


Step = tuple[datetime, int, str, str, dict[str, Any]]


def _history(rng: random.Random, tickets: int) -> list[Step]:
    """Per ticket, what the pipeline and the agents would record, in time order."""
    out = []
    for t in range(1, tickets + 1):
        at = START + timedelta(seconds=rng.randint(0, 55 * 86400),
                               microseconds=rng.randint(0, 999_999))  # as clock.now() gives
        state = "new"
        out.append((at, t, "created", "c", {}))
        for _ in range(rng.randint(0, 6)):
            at += timedelta(seconds=rng.choice((rng.randint(60, 3 * 3600),
                                                rng.randint(3600, 5 * 86400))),
                            microseconds=rng.randint(0, 999_999))
            step = rng.choice(("customer", "customer", "answer", "answer", "pending", "close",
                               "language"))
            if step == "customer":
                if state in ("closed", "pending"):
                    out.append((at, t, "state_changed", "c", {"old": state, "new": "open"}))
                    state = "open"
                out.append((at, t, "customer_message", "c", {}))
            elif step == "answer":
                agent = rng.choice(AGENTS)
                out.append((at, t, "answered", agent, {}))
                if state != "pending":
                    out.append((at, t, "state_changed", agent, {"old": state, "new": "pending"}))
                    state = "pending"
            elif step in ("pending", "close"):
                new = "pending" if step == "pending" else "closed"
                if state != new:
                    out.append((at, t, "state_changed", "admin", {"old": state, "new": new}))
                    state = new
            else:
                out.append((at, t, "language_changed", "system",
                            {"new": rng.choice(("fr", "sv", "bg"))}))
    return sorted(out, key=lambda e: e[0])


def _write(app: Any, rng: random.Random, events: list[Any]) -> None:
    with app.db.transaction() as s:
        for t in sorted({e[1] for e in events}):
            first = next(e[0] for e in events if e[1] == t)
            s.add(Ticket(id=t, department="support", subject="s", customer=f"c{t}@x.example",
                         language=rng.choice(("en", "de", None)), created_at=first,
                         updated_at=first))
    i = 0
    while i < len(events):
        n = rng.randint(1, 8)
        with app.db.transaction() as s, writing(s) as w:
            for at, t, kind, actor, detail in events[i:i + n]:
                if kind == "language_changed":
                    s.get(Ticket, t).language = detail["new"]
                w.event(t, kind, at, actor, **detail)
        i += n


def _rows(app: Any) -> tuple[list[Any], list[Any]]:
    with app.db.read() as s:
        w = [tuple(getattr(r, c) for c in waits.COLUMNS) for r in s.scalars(
            select(Wait).order_by(Wait.ticket_id, Wait.arrived_at))]
        m = [(r.ticket_id, r.kind, r.at, r.agent) for r in s.scalars(
            select(Milestone).order_by(Milestone.ticket_id, Milestone.at, Milestone.id))]
    return w, m


def same_as_replay(app: Any, since: datetime, until: datetime, now: datetime
                   ) -> dict[str, Any]:
    """The report as the tables give it, checked against the replay of the events."""
    with app.db.read() as s:
        fast = reports.build(s, app.config, since=since, until=until, now=now)
        slow = reports.as_json(s, app.config, reports.compute(
            s, app.config, since=since, until=until, now=now, replay=True), since, until)
    assert fast == slow, (since, until, now)
    return fast


def test_the_tables_give_the_report_the_replay_of_the_events_gives(
        tmp_path: Path, db_url: str | None) -> None:
    rng = random.Random(16)
    app = throwaway_app(tmp_path, CALENDAR, url=db_url)
    events = _history(rng, 160)
    _write(app, rng, events)
    last = events[-1][0]
    instants = [START + timedelta(days=d) for d in (0, 10, 24, 31, 42, 56, 70)]
    checked = 0
    for since, until in ((instants[0], instants[-1]), (instants[1], instants[3]),
                         (instants[2], instants[4]), (instants[3], instants[5])):
        for now in (last + timedelta(days=3), until, instants[4]):
            if now < since:
                continue
            fast = same_as_replay(app, since, until, now)
            checked += fast["departments"][0]["customer_messages"]
    assert checked > 500  # the periods held mail
    kept = _rows(app)
    assert kept[0] and kept[1]
    with app.db.transaction() as s:
        waits.rebuild(s, app.config)
    assert _rows(app) == kept
    app.close()


def test_an_upgrade_builds_the_tables_from_the_events_already_stored(tmp_path: Path) -> None:
    from alembic import command
    from sqlalchemy import insert

    from mailticket.store.db import Database
    from mailticket.store.models import Event

    url = f"sqlite:///{tmp_path}/app/u.db"
    old = Database(url)
    command.upgrade(old._alembic(), "0009")  # noqa: SLF001
    created = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # Monday 10:00 in Paris
    with old.engine.begin() as conn:
        conn.execute(insert(Ticket.__table__).values(
            id=1, department="support", subject="s", customer="jane@x.example",
            customer_name="", state="pending", priority="normal", language="fr",
            created_at=created, updated_at=created, escalation_level=0))
        conn.execute(insert(Event.__table__), [
            {"ticket_id": 1, "at": created, "kind": "created", "actor": "jane@x.example",
             "detail": {}},
            {"ticket_id": 1, "at": created + timedelta(minutes=90), "kind": "answered",
             "actor": AGENTS[0], "detail": {}},
            {"ticket_id": 1, "at": created + timedelta(minutes=90), "kind": "state_changed",
             "actor": AGENTS[0], "detail": {"old": "new", "new": "pending"}}])
    old.dispose()
    app = throwaway_app(tmp_path / "app", CALENDAR, url=url)  # upgrades, then builds
    with app.db.read() as s:
        (r,) = reports.build(s, app.config, since=created - timedelta(days=1),
                             until=created + timedelta(days=1),
                             now=created + timedelta(days=2))["departments"]
    assert (r["tickets"], r["answered_in_time"], r["languages"]) == (1, 1, {"fr": 1})
    assert r["first_response_business_seconds"] == {"median": 5400.0, "p90": 5400.0}
    assert r["agents"] == [{"agent": AGENTS[0], "answers": 1,
                            "median_response_business_seconds": 5400.0}]
    before = _rows(app)
    app.close()
    # The admin makes them again (after changing the hours, say): the same rows here.
    from click.testing import CliRunner

    from mailticket.cli import main

    done = CliRunner().invoke(main, ["--config", str(tmp_path / "app" / "config.toml"),
                                     "db", "rebuild-waits"])
    assert done.exit_code == 0, done.output
    assert "1 customer messages' waits made again" in done.output
    again = throwaway_app(tmp_path / "app", CALENDAR, url=url)
    assert _rows(again) == before
    again.close()
