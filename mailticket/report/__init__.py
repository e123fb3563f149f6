"""``mailticket report``: is the promise kept, per department, over a period.

``history`` reads what the events recorded, ``figures`` turns it into numbers
(pure), ``text`` shows them on a terminal.  Definitions: docs/reports.md.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from mailticket.config import Config
from mailticket.feedback.figures import feedback
from mailticket.report import aggregate, figures, history
from mailticket.report.opentime import OpenTime
from mailticket.sla.clock import promise


def build(session: Session, config: Config, *, since: datetime, until: datetime,
          now: datetime, departments: list[str] | None = None) -> dict[str, Any]:
    """The report as ``report --json`` prints it."""
    return as_json(session, config, compute(session, config, since=since, until=until, now=now,
                                   departments=departments), since, until)


def compute(session: Session, config: Config, *, since: datetime, until: datetime,
            now: datetime, departments: list[str] | None = None, values: bool = False,
            replay: bool = False) -> list[tuple[figures.Figures, ZoneInfo]]:
    """Each chosen department's figures and its zone (the page's charts need both),
    summed in SQL from the waits and milestones (``aggregate``); ``values``: with every
    first response, for the page's chart.  ``replay``: from the events themselves, the
    slow way the tables are checked against (tests/test_report_tables.py)."""
    out = []
    chosen = [d for d in config.departments if not departments or d.name in departments]
    names = [d.name for d in chosen]
    histories = (history.load(session, names, since, until, now) if replay
                 else aggregate.load(session, names, since, until))
    for dept in chosen:
        zone = ZoneInfo((dept.calendar or config.calendar).timezone)
        if not replay:
            out.append((aggregate.compute(session, dept.name, histories[dept.name],
                                          since=since, until=until, now=now,
                                          zone=zone, values=values), zone))
            continue
        cal = config.calendar_for(dept)
        response = config.sla_for(dept).response_duration
        open_time = OpenTime(cal, since.astimezone(zone).date() - timedelta(days=2),
                             now.astimezone(zone).date() + timedelta(days=2))
        fig = figures.compute(
            dept.name, histories[dept.name],
            until=until, now=now, zone=zone,
            due=partial(promise, cal, response),
            business=open_time.between)
        out.append((fig, zone))
    return out


def as_json(session: Session, config: Config,
            computed: list[tuple[figures.Figures, ZoneInfo]],
            since: datetime, until: datetime) -> dict[str, Any]:
    """The figures with each department's feedback, as ``report --json`` prints them."""
    zone = ZoneInfo(config.calendar.timezone)
    out = [{**figures.as_json(fig, z),
            "feedback": feedback(session, fig.department, since, until, z)}
           for fig, z in computed]
    return {"since": since.astimezone(zone).isoformat(timespec="seconds"),
            "until": until.astimezone(zone).isoformat(timespec="seconds"), "departments": out}
