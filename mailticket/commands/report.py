"""``mailticket report``: is the promise kept, per department, over a period."""

from __future__ import annotations

from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import click

from mailticket.commands.base import (
    Ctx,
    department_name,
    department_option,
    emit,
    instant,
    json_option,
    pass_ctx,
)


def html_option(fn: Any) -> Any:
    return click.option("--html", "html_file", metavar="FILE",
                        type=click.Path(dir_okay=False, writable=True, path_type=Path),
                        help="also write one self-contained page with charts to FILE")(fn)


def write_page(path: Path, page: str) -> None:
    """Write the page beside itself first, then rename: never half a page."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(page, encoding="utf-8")
        tmp.replace(path)
    except OSError as e:
        raise click.BadParameter(f"cannot write {path}: {e.strerror}",
                                 param_hint="--html") from None


def promise_hours(response: Any, cal: Any, since: Any) -> float | None:
    """Where the promise sits on the business-time axis of the first-response chart:
    N business hours; N business days as N of the calendar's next open day; else none."""
    from mailticket.sla.calendar import BUSINESS_DAYS, BUSINESS_HOURS

    if response.unit == BUSINESS_HOURS:
        return float(response.amount)
    if response.unit == BUSINESS_DAYS:
        day = cal.next_open_day(since.date())
        hours = sum((b - a).total_seconds() for a, b in cal.intervals(day)) / 3600
        return float(response.amount * hours)
    return None


@click.command()
@department_option
@click.option("--since", metavar="DATE",
              help="start of the period (ISO date or instant; default: 30 days before --until)")
@click.option("--until", metavar="DATE",
              help="end of the period, not included (ISO date or instant; default: now)")
@json_option
@html_option
@pass_ctx
def report(ctx: Ctx, department: str | None, since: str | None, until: str | None,
           as_json: bool, html_file: Path | None) -> None:
    """Is the promise kept: volume, first response, SLA met, backlog, agents, languages."""
    from mailticket import report as reports
    from mailticket.report.text import render

    app = ctx.app()
    zone = app.config.calendar.timezone
    now = app.clock.now()
    end = instant(until, zone, "--until") if until else now
    start = instant(since, zone, "--since") if since else end - timedelta(days=30)
    if start >= end:
        raise click.BadParameter("the period is empty: --since must come before --until",
                                 param_hint="--since")
    name = department_name(app, department)
    lo, hi = start.astimezone(UTC), end.astimezone(UTC)
    with app.db.read() as s:
        computed = reports.compute(s, app.config, since=lo, until=hi, now=now,
                                   departments=[name] if name else None,
                                   values=html_file is not None)
        data = reports.as_json(s, app.config, computed, lo, hi)
    if html_file is not None:
        from mailticket.report.html import report_page

        promises = {fig.department: promise_hours(
            app.config.sla_for(app.config.department(fig.department)).response_duration,
            app.config.calendar_for(app.config.department(fig.department)), lo)
            for fig, _ in computed}
        write_page(html_file, report_page(data, [f for f, _ in computed], promises))
    emit(data, as_json, render(data))
