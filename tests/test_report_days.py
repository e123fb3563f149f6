"""A report that takes its finished days as stored (report/days.py) gives what the replay
of the events gives, before and after later writes change some of those days; and it
does take them as stored, so a year is read from 365 rows, not from its waits."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from mailticket.report import days
from mailticket.store.models import ReportDay, Ticket
from mailticket.store.writes import writing
from tests.corpora import throwaway_app
from tests.test_report import CALENDAR
from tests.test_report_tables import AGENTS, START, _history, _write, same_as_replay

PARIS = ZoneInfo("Europe/Paris")


def _stored(app, since, until, now) -> int:
    """How many of the period's customer messages come from stored days."""
    with app.db.read() as s:
        parts, _ = days.split(s, "support", since=since, until=until, now=now, zone=PARIS)
    return sum(sum(p.cells.values()) for p in parts)


def test_stored_days_give_the_replay_and_follow_later_writes(
        tmp_path: Path, db_url: str | None) -> None:
    rng = random.Random(23)
    app = throwaway_app(tmp_path, CALENDAR, url=db_url)
    events = _history(rng, 160)
    _write(app, rng, events)
    last = events[-1][0]
    end = last + timedelta(days=3)
    made = days.run(app.db, app.config, end)  # as the daemon's job: a transaction a day
    with app.db.transaction() as s:
        assert days.fill(s, app.config, end) == 0  # once is enough
        assert s.scalar(select(func.count()).select_from(ReportDay)) == made
    assert made > 40  # nearly every day of the two months has settled
    periods = [(START, end), (START + timedelta(days=10, hours=5), START + timedelta(days=31)),
               (START + timedelta(days=24), START + timedelta(days=42, minutes=7))]
    for since, until in periods:
        for now in (end, until + timedelta(days=1)):
            r = same_as_replay(app, since, until, now)
        # Not the period's first day if partial, nor the days whose waits ended (or fell
        # due) after the period: the last few days of a period that ends in the past.
        share = 0.8 if until == end else 0.5
        assert _stored(app, since, until, end) > share * r["departments"][0]["customer_messages"]
    # Later writes change waits of stored days: the answer to a ticket whose first
    # message was closed unanswered weeks ago, and a ticket's language changed.
    with app.db.read() as s:
        tickets = s.scalars(select(Ticket.id).order_by(Ticket.id)).all()
    later = end + timedelta(hours=1)
    with app.db.transaction() as s, writing(s) as w:
        for t in tickets[:40]:
            w.event(t, "customer_message", later, "c")
            w.event(t, "answered", later + timedelta(minutes=5), AGENTS[1])
            w.event(t, "state_changed", later + timedelta(minutes=5), AGENTS[1],
                    old="open", new="pending")
        for t in tickets[40:60]:
            s.get(Ticket, t).language = "sv"
            w.event(t, "language_changed", later, "system", new="sv")
    after = later + timedelta(days=2)
    with app.db.read() as s:
        left = s.scalar(select(func.count()).select_from(ReportDay))
    assert left < made - 10  # the days of the changed waits were let go
    full = same_as_replay(app, START, after, after)
    assert full["departments"][0]["languages"].get("sv", 0) > 0
    with app.db.transaction() as s:
        assert days.fill(s, app.config, after) > 0  # summed again
    same_as_replay(app, START, after, after)
    same_as_replay(app, START + timedelta(days=3, hours=2), after, after)
    app.close()


def test_a_day_whose_waits_are_still_running_is_not_stored(tmp_path: Path) -> None:
    app = throwaway_app(tmp_path, CALENDAR)
    created = START + timedelta(days=2, hours=9)  # a Saturday: due on Tuesday
    with app.db.transaction() as s:
        s.add(Ticket(id=1, department="support", subject="s", customer="c@x.example",
                     language="fr", created_at=created, updated_at=created))
    with app.db.transaction() as s, writing(s) as w:
        w.event(1, "created", created, "c")
    with app.db.transaction() as s:
        assert days.fill(s, app.config, created + timedelta(days=1)) == 0  # not yet due
    with app.db.transaction() as s:
        assert days.fill(s, app.config, created + timedelta(days=10)) == 1  # overdue now
    r = same_as_replay(app, START, created + timedelta(days=11), created + timedelta(days=11))
    assert r["departments"][0]["unanswered_overdue"] == 1
    app.close()


def test_a_days_bounds_are_its_first_instant_and_the_next_days_across_clock_changes() -> None:
    from datetime import UTC, date, datetime

    def first_instant(d: date, zone: ZoneInfo) -> datetime:
        at = datetime(d.year, d.month, d.day, tzinfo=UTC) - timedelta(hours=16)
        while at.astimezone(zone).date() < d:  # quarter-hours: every zone's offsets
            at += timedelta(minutes=15)
        return at

    checked = 0
    for name in ("Europe/Paris", "America/Santiago", "Australia/Lord_Howe",
                 "America/New_York", "Asia/Tokyo"):
        zone = ZoneInfo(name)
        for d in (date(2026, 1, 1) + timedelta(days=i) for i in range(366)):
            b = days.bounds(d, zone)
            if b is None:
                continue  # left to the waits: never taken as stored
            assert b == (first_instant(d, zone), first_instant(d + timedelta(days=1), zone))
            checked += 1
    assert checked > 1800
