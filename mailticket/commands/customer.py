"""``mailticket customer show/export/forget ADDRESS`` and ``mailticket purge``: one
person's data seen, handed over, erased; the retention policy applied now."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mailticket.commands.base import Ctx, emit, json_option, pass_ctx


def _address(value: str) -> str:
    value = value.strip().lower()
    if value.count("@") != 1 or value.startswith("@") or value.endswith("@"):
        raise click.BadParameter(f"{value!r} is not a mail address", param_hint="ADDRESS")
    return value


def on_terminal() -> bool:
    """Whether someone can answer a question (tests stand in for a terminal here)."""
    return sys.stdin.isatty()


@click.group()
def customer() -> None:
    """One person's data: see it, hand it over, erase it."""


@customer.command("show")
@click.argument("address")
@json_option
@pass_ctx
def show(ctx: Ctx, address: str, as_json: bool) -> None:
    """Their tickets, message counts, language, first and last contact (exit 1: none)."""
    from mailticket.customers.show import render, summary

    addr = _address(address)
    app = ctx.app()
    with app.db.read() as s:
        data = summary(s, app.config, addr)
    if data is None:
        emit({"address": addr, "tickets": []}, as_json, f"nothing is held about {addr}")
        sys.exit(1)
    emit(data, as_json, render(data))


@customer.command("export")
@click.argument("address")
@click.option("--out", "out", required=True, metavar="DIR",
              type=click.Path(file_okay=False, path_type=Path),
              help="a new (or empty) folder to write into, readable by you only")
@json_option
@pass_ctx
def export(ctx: Ctx, address: str, out: Path, as_json: bool) -> None:
    """Everything held about them (right of access): tickets as JSON, mails as .eml and
    one mbox, attachments, and a README in their language."""
    from mailticket.customers.export import export as write

    addr = _address(address)
    if out.exists() and any(out.iterdir()):
        raise click.BadParameter(f"{out} is not empty; give a new folder", param_hint="--out")
    app = ctx.app()
    company = app.config.departments[0].sender_name
    with app.db.read() as s:
        data = write(s, app.config, addr, out, app.clock.now(), company)
    emit(data, as_json, f"{data['tickets']} ticket(s), {data['mails']} mail(s), "
                        f"{data['attachments']} attachment(s) written to {out} "
                        f"(README in {data['language']})")


@customer.command("forget")
@click.argument("address")
@click.option("--yes", is_flag=True, help="do not ask (needed when not on a terminal)")
@json_option
@pass_ctx
def forget(ctx: Ctx, address: str, yes: bool, as_json: bool) -> None:
    """Erase them everywhere, for good; their tickets' numbers, times and SLA outcomes
    stay under a pseudonym, so reports stay true."""
    from mailticket.customers.forget import forget as erase
    from mailticket.customers.forget import staff_addresses

    addr = _address(address)
    app = ctx.app()
    if addr in staff_addresses(app.config) or app.config.department_for_address(addr):
        raise click.BadParameter(f"{addr} is the company's (a department, agent or "
                                 "escalation address), not a customer's", param_hint="ADDRESS")
    if not yes:
        if not on_terminal():
            raise click.UsageError("not on a terminal: add --yes to erase without asking")
        click.confirm(f"Erase {addr} for good (mail, texts, attachments, address)? "
                      "This cannot be undone", abort=True)
    data = erase(app.db, app.config, addr, app.clock.now())
    emit(data, as_json, f"erased {addr}: {len(data['tickets'])} ticket(s) of theirs, "
                        f"{len(data['shared'])} shared, now {data['pseudonym']} "
                        f"({data['seconds']} s)")


@click.command()
@click.option("--dry-run", is_flag=True, help="only say which tickets would lose their content")
@json_option
@pass_ctx
def purge(ctx: Ctx, dry_run: bool, as_json: bool) -> None:
    """Apply the retention policy now: closed tickets past [retention] closed_after lose
    their content."""
    from mailticket.customers.retention import enabled
    from mailticket.customers.retention import purge as run

    app = ctx.app()
    if not enabled(app.config):
        raise click.UsageError("no retention policy: set [retention] closed_after "
                               "(or a department's retention.closed_after)")
    data = run(app.db, app.config, app.clock.now(), dry_run=dry_run)
    verb = "would erase" if dry_run else "erased"
    lines = [f"{verb} the content of {data['count']} closed ticket(s)"]
    lines += [f"  {t['ref']} closed {t['closed_at']}" for t in data["tickets"]]
    emit(data, as_json, "\n".join(lines))
