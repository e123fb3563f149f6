"""``mailticket health``: one verdict for monitoring (exit 0 ok, 1 warning or critical)."""

from __future__ import annotations

import sys

import click

from mailticket.commands.base import Ctx, emit, json_option, pass_ctx


@click.command()
@json_option
@pass_ctx
def health(ctx: Ctx, as_json: bool) -> None:
    """Is mail flowing? One line per check; exit 0 ok, 1 warning or critical.

    Reads the database only: it works whether or not the daemon runs (for Nagios,
    systemd timers, or a glance)."""
    from mailticket.ops import health as checks

    app = ctx.app()
    now = app.clock.now()
    with app.db.read() as s:
        found = checks.judge(checks.gather(s, app.config, now))
    data = checks.as_json(found)
    lines = [f"{data['status'].upper()}"] + [
        f"  {c['status']:<8} {c['name']:<20} {c['detail']}" for c in data["checks"]]
    emit(data, as_json, "\n".join(lines))
    sys.exit(0 if data["status"] == "ok" else 1)
