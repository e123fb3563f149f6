"""``mailticket report``: is the promise kept, per department, over a period."""

from __future__ import annotations

from datetime import UTC, timedelta

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


@click.command()
@department_option
@click.option("--since", metavar="DATE",
              help="start of the period (ISO date or instant; default: 30 days before --until)")
@click.option("--until", metavar="DATE",
              help="end of the period, not included (ISO date or instant; default: now)")
@json_option
@pass_ctx
def report(ctx: Ctx, department: str | None, since: str | None, until: str | None,
           as_json: bool) -> None:
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
    with app.db.read() as s:
        data = reports.build(s, app.config, since=start.astimezone(UTC),
                             until=end.astimezone(UTC), now=now,
                             departments=[name] if name else None)
    emit(data, as_json, render(data))
