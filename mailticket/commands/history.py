"""``mailticket import``: an existing shared mailbox's history, nothing sent."""

from __future__ import annotations

import logging
import sys
from datetime import timedelta

import click

from mailticket.commands.base import Ctx, department_name, emit, json_option, pass_ctx


def _text(d: dict[str, object]) -> str:
    lines = [f"{d['mails']} mails read: {d['messages']} stored on tickets "
             f"({d['tickets']} new tickets, {d['answers']} agent answers), "
             f"{d['closed']} tickets closed as older than the cutoff, {d['skipped']} skipped"]
    reasons = d["skipped_reasons"]
    assert isinstance(reasons, dict)
    lines += [f"  skipped: {n} {why}" for why, n in reasons.items()]
    return "\n".join(lines)


@click.command("import")
@click.option("--department", "-d", metavar="NAME", required=True,
              help="the department whose mailbox this was (a name from the configuration)")
@click.option("--closed-after", type=click.IntRange(min=0), default=30, show_default=True,
              metavar="DAYS",
              help="tickets whose last message is older than this many days come in closed")
@click.argument("paths", nargs=-1, required=True, metavar="PATH…")
@json_option
@pass_ctx
def import_(ctx: Ctx, department: str, closed_after: int, paths: tuple[str, ...],
            as_json: bool) -> None:
    """An mbox file or a Maildir folder (INBOX and Sent alike) as tickets, answers and
    their times: nothing is sent; the same mails imported twice add nothing."""
    from mailticket.importer import Importer, NotAMailbox, open_mailbox

    app = ctx.app()
    name = department_name(app, department)
    assert name is not None
    for path in paths:
        try:
            open_mailbox(path).close()
        except NotAMailbox as e:
            raise click.BadParameter(str(e), param_hint="PATH") from None
    # One "opened ticket N" line per mail of a mailbox's history says nothing; the
    # summary does. Warnings (a reused Message-ID …) still show.
    logging.getLogger("mailticket.pipeline").setLevel(logging.WARNING)
    importer = Importer(app, name, timedelta(days=closed_after))
    boxes, entries = importer.scan(paths)
    if sys.stdout.isatty() and not as_json:
        with click.progressbar(length=len(entries), label="importing") as bar:
            summary = importer.load(boxes, entries, bar.update)
    else:
        summary = importer.load(boxes, entries)
    data = summary.as_dict()
    emit(data, as_json, _text(data))
