"""``mailticket staffing``: how many agents on duty, hour by hour, keep the promise.

``history`` reads the last weeks' customer messages, this module turns them and the
department's calendar into minutes, ``replay`` (pure) searches the roster.
Definitions and why a replay: docs/reports.md.
"""

from __future__ import annotations

import statistics
from bisect import bisect_right
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from mailticket.config import Config, DepartmentConfig
from mailticket.sla.calendar import BusinessCalendar, Duration
from mailticket.sla.clock import promise
from mailticket.staffing import history, replay
from mailticket.staffing.replay import Mail, OpenMinute

MINUTE = timedelta(minutes=1)
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def open_minutes(cal: BusinessCalendar, zone: ZoneInfo, start: datetime,
                 end: datetime) -> list[OpenMinute]:
    """Every open minute in [start, end) as an index from ``start`` (a whole minute)."""
    out: list[OpenMinute] = []
    day = start.astimezone(zone).date() - timedelta(days=1)
    while day <= end.astimezone(zone).date():
        for a, b in cal.intervals(day):
            t = max(a, start)
            while t < min(b, end):
                local = t.astimezone(zone)
                out.append(OpenMinute(int((t - start) // MINUTE),
                                      local.weekday() * 24 + local.hour, local.date()))
                t += MINUTE
        day += timedelta(days=1)
    return out


def _dues(cal: BusinessCalendar, zone: ZoneInfo, response: Duration,
          at: list[datetime]) -> list[datetime]:
    """Each arrival's promise.  Under a business-time promise every arrival in one closed
    stretch is due at the same instant (tests/test_staffing.py checks it against the
    promise itself): computed once per stretch, keyed by the opening that ends it."""
    cache: dict[datetime, datetime] = {}
    out: list[datetime] = []
    if not at:
        return out
    starts: list[datetime] = []
    ends: list[datetime] = []
    day = at[0].astimezone(zone).date() - timedelta(days=1)
    while day <= at[-1].astimezone(zone).date() + timedelta(days=1):
        for a, b in cal.intervals(day):
            starts.append(a)
            ends.append(b)
        day += timedelta(days=1)
    for t in at:
        key = t.replace(second=0, microsecond=0) + (MINUTE if t.second or t.microsecond
                                                     else timedelta(0))
        k = bisect_right(starts, key) - 1
        if response.is_business and not (k >= 0 and key < ends[k]):
            opening = starts[k + 1] if k + 1 < len(starts) else None
            key = opening or cal.add_open_time(key, timedelta(seconds=1)) - timedelta(seconds=1)
            due = cache.get(key)
            if due is None:
                due = cache[key] = promise(cal, response, t)
        else:
            due = cache.get(key)
            if due is None:
                due = cache[key] = promise(cal, response, key)
        out.append(due)
    return out


def department(session: Session, config: Config, dept: DepartmentConfig,
               at: list[datetime], *, now: datetime, weeks: int, target: float | None,
               volume: float, dues: list[datetime]) -> dict[str, Any]:
    """One department's staffing, as ``staffing --json`` prints it, from the arrivals
    and their promises as stored (``history.arrivals``: naive UTC, read without the
    time zone's conversion per value)."""
    settings = config.staffing_for(dept)
    cal = config.calendar_for(dept)
    zone = ZoneInfo((dept.calendar or config.calendar).timezone)
    goal = settings.target if target is None else target
    start = window_start(now, weeks)
    recorded = history.recorded_minutes(session, dept.name, start, now)
    work = statistics.fmean(recorded) if recorded else settings.handle_time
    last = max(dues).replace(tzinfo=UTC) if dues else now
    end = max(last, now) + MINUTE
    minutes = open_minutes(cal, zone, start, end)
    base = start.astimezone(UTC).replace(tzinfo=None)
    mails = replay.scaled([Mail(int((a - base) // MINUTE), -(-(d - base) // MINUTE))
                           for a, d in zip(at, dues, strict=True)], volume)
    rate = (1 - settings.shrinkage) * settings.occupancy
    queue = replay.Queue(mails, minutes)
    needed, kept = replay.needed(mails, minutes, work, rate, goal, queue)
    on_duty = settings.agents_on_duty if settings.agents_on_duty is not None else len(
        dept.agents)
    now_roster = replay.current(minutes, on_duty)
    now_kept = queue.replay(now_roster, work, rate)
    worst = replay.worst_day(mails, minutes)
    return {
        "department": dept.name,
        "weeks": weeks,
        "target": goal,
        "volume": round(volume, 4),
        "customer_messages": len(mails),
        "handle_time_seconds": round(work * 60, 1),
        "handle_time_source": "recorded" if recorded else "configured",
        "needed": replay.as_week(needed),
        "kept_ratio": round(kept.ratio, 4),
        "current": {"agents_on_duty": on_duty, "kept_ratio": round(now_kept.ratio, 4),
                    "roster": replay.as_week(now_roster)},
        "worst_day": None if worst is None else {
            "date": worst[0].isoformat(), "weekday": DAYS[worst[0].weekday()],
            "customer_messages": worst[1]},
    }


def window_start(now: datetime, weeks: int) -> datetime:
    return (now - timedelta(weeks=weeks)).replace(second=0, microsecond=0)


def build(session: Session, config: Config, *, now: datetime, weeks: int,
          target: float | None, volume: float,
          departments: list[str] | None = None) -> dict[str, Any]:
    chosen = [d for d in config.departments if not departments or d.name in departments]
    at = history.arrivals(session, [d.name for d in chosen], window_start(now, weeks), now)
    return {"departments": [department(session, config, d, at[d.name][0], now=now,
                                       weeks=weeks, target=target, volume=volume,
                                       dues=at[d.name][1]) for d in chosen]}
