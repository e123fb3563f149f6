"""``mailticket staffing``: how many agents on duty, hour by hour, keep the promise."""

from __future__ import annotations

import re
from pathlib import Path

import click

from mailticket.commands.base import (
    Ctx,
    department_name,
    department_option,
    emit,
    json_option,
    pass_ctx,
)
from mailticket.commands.report import html_option, write_page

VOLUME = re.compile(r"^([+-]?\d+(?:\.\d+)?)%$")


def volume_factor(text: str | None) -> float:
    """``+20%`` → 1.2, ``-10%`` → 0.9 (exit 2 naming --volume otherwise)."""
    if text is None:
        return 1.0
    m = VOLUME.match(text.strip())
    if not m or float(m.group(1)) <= -100:
        raise click.BadParameter(f"{text!r}: give a change in percent, e.g. +20% or -10%",
                                 param_hint="--volume")
    return 1 + float(m.group(1)) / 100


@click.command()
@department_option
@click.option("--weeks", type=click.IntRange(1, 52), default=4, show_default=True,
              help="replay the customer mail of this many last weeks")
@click.option("--target", type=click.FloatRange(0, 1, min_open=True), default=None,
              help="share of mail to answer by its due instant (default: staffing.target)")
@click.option("--volume", metavar="CHANGE", help="what if the mail changes, e.g. +20%")
@json_option
@html_option
@pass_ctx
def staffing(ctx: Ctx, department: str | None, weeks: int, target: float | None,
             volume: str | None, as_json: bool, html_file: Path | None) -> None:
    """How many agents on duty, hour by hour, keep the promise for the target share."""
    from mailticket import staffing as staff
    from mailticket.staffing.text import render

    factor = volume_factor(volume)
    app = ctx.app()
    name = department_name(app, department)
    with app.db.read() as s:
        data = staff.build(s, app.config, now=app.clock.now(), weeks=weeks, target=target,
                           volume=factor, departments=[name] if name else None)
    if html_file is not None:
        from mailticket.report.html import staffing_page

        write_page(html_file, staffing_page(data))
    emit(data, as_json, render(data))
