"""``mailticket reconcile``: is every mail in the mailboxes accounted for."""

from __future__ import annotations

import sys
from typing import Any

import click

from mailticket.commands.base import (
    Ctx,
    department_name,
    department_option,
    emit,
    json_option,
    pass_ctx,
)


@click.command()
@department_option
@click.option("--fix", is_flag=True,
              help="process the mails never processed, as the poller would (no "
                   "auto-response for mail that arrived more than a day ago); what they cause is "
                   "queued in the outbox, sent by the daemon or `poll`")
@json_option
@pass_ctx
def reconcile(ctx: Ctx, department: str | None, fix: bool, as_json: bool) -> None:
    """Every mail in each IMAP mailbox against what was stored, quarantined or skipped.

    Exit 1 if a mailbox holds mail that was never processed (and --fix was not given),
    or a mailbox could not be read."""
    from mailticket.ops.reconcile import fix as fix_missing
    from mailticket.ops.reconcile import survey

    app = ctx.app()
    name = department_name(app, department)
    depts = [d for d in app.config.departments if name in (None, d.name)]
    if name is not None and depts[0].imap is None:
        raise click.BadParameter(f"department {name!r} has no IMAP mailbox "
                                 f"(departments[{name}].imap is not set)",
                                 param_hint="--department")
    results: list[dict[str, Any]] = []
    finding = False
    for d in (d for d in depts if d.imap is not None):
        try:
            found = survey(app, d)
            if fix:
                found = fix_missing(app, d, found, app.clock.now())
        except Exception as e:  # the mailbox or database: this department's finding
            finding = True
            results.append({"department": d.name, "error": f"{type(e).__name__}: {e}"})
            continue
        finding |= bool(found.missing) and not fix
        results.append(found.as_json())
    emit({"departments": results}, as_json, _text(results))
    sys.exit(1 if finding else 0)


def _text(results: list[dict[str, Any]]) -> str:
    lines = []
    for r in results:
        if "error" in r:
            lines.append(f"{r['department']}: cannot reconcile: {r['error']}")
            continue
        missing = r["missing"]
        lines.append(f"{r['department']} ({r['folder']}, UIDVALIDITY {r['uidvalidity']}): "
                     f"{r['in_mailbox']} in the mailbox, {r['stored']} stored, "
                     f"{r['quarantined']} quarantined, {r['skipped']} skipped as duplicates, "
                     f"{r['waiting']} waiting for the next poll, {len(missing)} missing")
        if missing:
            lines.append(f"  never processed: UIDs {', '.join(map(str, missing))}")
        if r["fixed"]:
            done = ", ".join(f"{n} {action}" for action, n in sorted(r["fixed"].items()))
            lines.append(f"  processed now: {done}")
    return "\n".join(lines) or "no department has an IMAP mailbox"
