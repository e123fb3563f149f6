"""``mailticket [--config FILE] COMMAND``: thin click commands over the app layer.

Exit codes: 0 fine, 1 the command failed, 2 the configuration or the invocation
is wrong (click's own usage errors are 2 as well).
"""

from __future__ import annotations

import logging
import os
import stat
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import click

from mailticket import files
from mailticket.commands import COMMANDS
from mailticket.commands.base import (
    Ctx,
    department_name,
    department_option,
    emit,
    instant,
    json_option,
    pass_ctx,
    session,
)
from mailticket.store.states import STATES

if TYPE_CHECKING:  # imported where used: a command loads only what it runs (--help: none)
    from mailticket.app import App
    from mailticket.store.models import Ticket
    from mailticket.store.writes import Writes


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("mail.log", "imapclient", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # APScheduler's "skipped: maximum number of running instances" is expected here.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)


@click.group()
@click.option("--config", "config_path", envvar="MAILTICKET_CONFIG", type=click.Path(),
              help="configuration file (default: $MAILTICKET_CONFIG, ./mailticket.toml, "
                   "./config.example.toml)")
@click.option("-v", "--verbose", is_flag=True, help="debug logging")
@click.pass_context
def main(click_ctx: click.Context, config_path: str | None, verbose: bool) -> None:
    """mailticket: an email helpdesk that runs as a daemon."""
    files.make_private()  # customers' mail: 0600 files, 0700 folders, whatever the umask
    _setup_logging(verbose)
    click_ctx.obj = Ctx(config_path)


@main.command()
@pass_ctx
def run(ctx: Ctx) -> None:
    """Run the daemon in the foreground until SIGTERM or Ctrl-C."""
    from mailticket.daemon import catch_stop_signals
    from mailticket.daemon import run as run_daemon

    stop = catch_stop_signals()
    # A schema upgrade runs in a child, so the daemon stays lean; the pipeline's modules
    # load meanwhile (on a first start each takes about 0.6 s).
    app = ctx.app(apart=True, meanwhile=lambda: import_module("mailticket.pipeline"))
    run_daemon(app, stop)


@main.command()
@click.option("--once", is_flag=True,
              help="poll each mailbox once, then exit (what `poll` always does; "
                   "`mailticket run` keeps polling)")
@pass_ctx
def poll(ctx: Ctx, once: bool) -> None:
    """Fetch new mail from every department's IMAP folder once, then send the outbox.

    Exit 1 if a mailbox could not be fetched or the outbox could not be sent."""
    from mailticket.daemons import holding

    app = ctx.app()
    with holding(app, "poll"):  # what it claims is freed at exit, or when it is killed
        failed = _poll_once(app)
    sys.exit(1 if failed else 0)


def _poll_once(app: App) -> bool:
    """Returns whether a mailbox failed."""
    from mailticket.ingest.imap import ImapPoller

    failed = False
    if not any(d.imap for d in app.config.departments):
        click.echo("no department has an IMAP mailbox (mail arrives through the listener)")
    for dept in app.config.departments:
        if dept.imap is None:
            continue
        try:
            n = ImapPoller(app, dept).poll_once()
            click.echo(f"{dept.name}: {n} new mail(s)")
        except Exception as e:
            failed = True
            click.echo(f"{dept.name}: IMAP failed: {type(e).__name__}: {e}", err=True)
    report = app.outbox.deliver()
    while report.sent and not report.down:
        report = app.outbox.deliver()
    if report.down:
        failed = True
        click.echo(f"outbox: not sent: {report.down}", err=True)
    return failed


@main.command()
@json_option
@pass_ctx
def status(ctx: Ctx, as_json: bool) -> None:
    """Mail flow per department, SLA counts, outbox and quarantine."""
    from mailticket import views

    with session(ctx) as (app, s):
        data = views.status(s, app.config, app.clock.now())
        data["outbox_last_error"] = views.outbox_last_error(s, app.config)
    lines = []
    for d in data["departments"]:
        fetch = d["last_fetch"] or ("never" if d["imap"] else "listener only")
        err = f"  last error {d['last_error_at']}: {d['last_error']}" if d["last_error"] else ""
        lines.append(f"{d['department']:<12} {d['address']:<28} last fetch {fetch}  "
                     f"open {d['open']}  at risk {d['at_risk']}  breached {d['breached']}{err}")
    lines.append(f"outbox: {data['outbox_depth']} waiting   quarantine: {data['quarantined']}")
    if data["outbox_last_error"]:
        e = data["outbox_last_error"]
        lines.append(f"outbox last error: {e['error']} (next try {e['next_attempt_at']})")
    lines += [f"daemon {d['id']}: {d['command']} on {d['host']} pid {d['pid']}  started "
              f"{d['started_at']}  heartbeat {d['heartbeat_at']}  mailboxes "
              f"{', '.join(d['mailboxes']) or '-'}"
              for d in data["daemons"]] or ["no daemon running"]
    emit(data, as_json, "\n".join(lines))


def _ticket_lines(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no tickets"
    out = [f"{'ID':>5}  {'REF':<16} {'STATE':<8} {'PRIO':<7} {'SLA':<9} {'DUE':<25} "
           f"{'ASSIGNEE':<24} {'CUSTOMER':<28} SUBJECT"]
    for r in rows:
        out.append(f"{r['id']:>5}  {r['ref']:<16} {r['state']:<8} {r['priority']:<7} "
                   f"{r['sla'] or '-':<9} {r['due_at'] or '-':<25} {r['assignee'] or '-':<24} "
                   f"{r['customer']:<28} {r['subject'][:60]}")
    return "\n".join(out)


@main.command()
@department_option
@click.option("--state", "-s", type=click.Choice(STATES), help="only tickets in this state")
@click.option("--overdue", is_flag=True, help="only tickets whose answer is late")
@click.option("--at-risk", is_flag=True, help="only tickets past the warning point, not yet late")
@json_option
@pass_ctx
def tickets(ctx: Ctx, department: str | None, state: str | None, overdue: bool,
            at_risk: bool, as_json: bool) -> None:
    """List tickets."""
    from mailticket import views

    with session(ctx) as (app, s):
        rows = views.list_tickets(s, app.config, app.clock.now(),
                                  department=department_name(app, department),
                                  state=state, overdue=overdue, at_risk=at_risk)
    emit(rows, as_json, _ticket_lines(rows))


@main.command()
@click.argument("ticket_id", type=int)
@json_option
@pass_ctx
def show(ctx: Ctx, ticket_id: int, as_json: bool) -> None:
    """One ticket with its whole thread and history, oldest first."""
    from mailticket import views
    from mailticket.store.models import Ticket

    with session(ctx) as (app, s):
        t = s.get(Ticket, ticket_id)
        if t is None:
            raise click.ClickException(f"no ticket {ticket_id}")
        d = views.ticket_detail(app.config, t, app.clock.now())
    lines = [f"{d['ref']} {d['subject']}",
             f"state {d['state']}  priority {d['priority']}  assignee {d['assignee'] or '-'}  "
             f"due {d['due_at'] or '-'}  sla {d['sla'] or '-'}",
             "participants: " + ", ".join(f"{p['address']} ({p['role']})"
                                          for p in d["participants"])]
    for _, entry in sorted(views.timeline(d), key=lambda e: e[0]):
        lines += entry
    emit(d, as_json, "\n".join(lines))


@main.command()
@click.argument("ticket_id", type=int)
@click.argument("name")
@click.option("--message", "-m", "message_no", type=int, metavar="N",
              help="the attachment of the ticket's N-th message (the #N in `show`), when "
                   "several messages carry one of that name")
@click.option("--out", "-o", "out", type=click.Path(dir_okay=False), metavar="FILE",
              help="write it to FILE, created readable by you only (default: standard "
                   "output, which must not be a terminal)")
@pass_ctx
def attachment(ctx: Ctx, ticket_id: int, name: str, message_no: int | None,
               out: str | None) -> None:
    """Write a file attached to a ticket's mail, by its name as `show` lists it."""
    from mailticket import views
    from mailticket.store.models import Ticket

    with session(ctx) as (app, s):
        t = s.get(Ticket, ticket_id)
        if t is None:
            raise click.ClickException(f"no ticket {ticket_id}")
        n, index, meta = _find_attachment(t, name, message_no)
        data = views.attachment_data(t.messages[n - 1].raw, index, int(meta.get("size", -1)))
    if data is None:
        raise click.ClickException(f"{name} of message #{n} cannot be read back from the "
                                   "stored mail")
    if out is None:
        stdout = sys.stdout.buffer
        if stdout.isatty():
            raise click.UsageError("standard output is a terminal: give --out FILE or "
                                   "redirect it")
        stdout.write(data)
        stdout.flush()
        return
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise click.ClickException(f"{out} exists; remove it or choose another name") from None
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    click.echo(f"wrote {name} ({len(data)} bytes, {meta.get('type', '?')}) from message "
               f"#{n} of ticket {ticket_id} to {out}", err=True)


def _find_attachment(t: Ticket, name: str,
                     message_no: int | None) -> tuple[int, int, dict[str, Any]]:
    """(message number, index among its attachments, stored description) of NAME."""
    found = [(n, i, a) for n, m in enumerate(t.messages, 1)
             if message_no in (None, n)
             for i, a in enumerate(m.attachments) if a.get("name") == name]
    if not found:
        have = [f"{a.get('name') or '(no name)'} (#{n})" for n, m in enumerate(t.messages, 1)
                for a in m.attachments]
        where = f"message #{message_no} of ticket {t.id}" if message_no else f"ticket {t.id}"
        raise click.ClickException(f"{where} has no attachment {name!r}; attachments: "
                                   + (", ".join(have) or "none"))
    messages = sorted({n for n, _, _ in found})
    if len(messages) > 1:
        raise click.UsageError(f"{name!r} is attached to messages "
                               f"{', '.join(f'#{n}' for n in messages)}: pick one with "
                               "--message N")
    if len(found) > 1:
        click.echo(f"message #{messages[0]} carries {len(found)} files named {name!r}: "
                   "writing the first", err=True)
    return found[0]


def _change(ctx: Ctx, fn: Any, ticket_id: int, *args: Any, as_json: bool = False) -> None:
    from mailticket import actions, views
    from mailticket.store.writes import writing

    app = ctx.app()
    try:
        with app.db.transaction() as s, writing(s) as w:
            t = fn(w, ticket_id, *args, app.clock.now())
            d = views.ticket_dict(app.config, t, app.clock.now())
    except actions.RefusedInput as e:
        raise click.UsageError(str(e)) from None
    except actions.ActionError as e:
        raise click.ClickException(str(e)) from None
    emit(d, as_json, f"ticket {d['id']}: state {d['state']}, assignee {d['assignee'] or '-'}")


@main.command()
@click.argument("ticket_id", type=int)
@click.option("--quiet", is_flag=True, help="do not send the customer the closed notice")
@json_option
@pass_ctx
def close(ctx: Ctx, ticket_id: int, quiet: bool, as_json: bool) -> None:
    """Close a ticket (stops its SLA clock; tells the customer unless --quiet).

    A ticket already closed is left alone (exit 1): the customer is not told twice."""
    from mailticket import actions

    app = ctx.app()

    def close_and_tell(w: Writes, tid: int, now: datetime) -> Ticket:
        t = actions.close(w, tid, now)
        if not quiet:
            dept = app.config.department(t.department)
            app.pipeline.mailer.closed_notice(w, t, dept, now)
        return t

    _change(ctx, close_and_tell, ticket_id, as_json=as_json)


@main.command()
@click.argument("ticket_id", type=int)
@json_option
@pass_ctx
def reopen(ctx: Ctx, ticket_id: int, as_json: bool) -> None:
    """Reopen a closed ticket (exit 1 for a ticket that is not closed)."""
    from mailticket import actions

    _change(ctx, actions.reopen, ticket_id, as_json=as_json)


@main.command()
@click.argument("ticket_id", type=int)
@click.argument("agent")
@json_option
@pass_ctx
def assign(ctx: Ctx, ticket_id: int, agent: str, as_json: bool) -> None:
    """Assign a ticket to an agent (or escalation contact) of its department: an address, or
    its part before the @; "-" unassigns."""
    from mailticket import actions
    from mailticket.store.models import Ticket

    app = ctx.app()

    def assign_checked(w: Writes, tid: int, now: datetime) -> Ticket:
        t = w.session.get(Ticket, tid)
        agents = _staff(app, t.department) if t is not None else []
        who = agent.lower()
        # "bob" for bob@…, as in a reply's #assign
        who = next((a for a in agents if who in (a, a.split("@", 1)[0])), who)
        return actions.assign(w, tid, None if agent == "-" else who, now, agents=agents)

    _change(ctx, assign_checked, ticket_id, as_json=as_json)


def _staff(app: App, department: str) -> list[str]:
    """Who may be assigned: the same people who may act on the ticket by mail."""
    from mailticket.agent import staff

    try:
        return sorted(staff(app.config.department(department)))
    except KeyError:  # a department removed from the configuration: nobody to check against
        return []


@main.command("sla")
@click.option("--at", "at", metavar="WHEN",
              help="ISO instant, e.g. 2026-11-24T09:00+01:00 (default: now; without an "
                   "offset, the default calendar's timezone)")
@json_option
@pass_ctx
def sla_cmd(ctx: Ctx, at: str | None, as_json: bool) -> None:
    """What is overdue or at risk now, or at a given instant."""
    from mailticket import views
    from mailticket.clock import FixedClock

    app = ctx.app()
    when = instant(at, app.config.calendar.timezone, "--at") if at else app.clock.now()
    app.clock = FixedClock(when.astimezone(UTC))
    with app.db.transaction() as s:
        rows = views.list_tickets(s, app.config, app.clock.now(), overdue=True, at_risk=True)
    at_local = when.astimezone(ZoneInfo(app.config.calendar.timezone))
    emit(rows, as_json, f"at {at_local.isoformat(timespec='seconds')}:\n"
          + _ticket_lines(rows))


@main.command("check-config")
@click.option("--offline", is_flag=True, help="validate only; do not try IMAP and SMTP logins")
@json_option
@pass_ctx
def check_config(ctx: Ctx, offline: bool, as_json: bool) -> None:
    """Validate the configuration, then try each IMAP and SMTP login (exit 1 if one fails)."""
    app = ctx.app(upgrade=False)
    cfg = app.config
    checks = [*_key_check(cfg)]
    checks += [] if offline else [*_imap_checks(cfg), _outgoing_check(cfg)]
    ok = all(c["ok"] for c in checks)
    warnings = [*cfg.warnings(), *_exposed_secrets(ctx, cfg)]
    if as_json:
        emit({"ok": ok, "departments": len(cfg.departments), "warnings": warnings,
               "checks": [{k: v for k, v in c.items() if k != "text"} for c in checks]},
              True, "")
    else:
        for warning in warnings:
            click.echo(f"warning: {warning}", err=True)
        click.echo(f"configuration OK: {len(cfg.departments)} department(s)")
        for c in checks:
            click.echo(c["text"], err=not c["ok"])
    sys.exit(0 if ok else 1)


def _key_check(cfg: Any) -> Iterator[dict[str, Any]]:
    """The encryption keys' variable, when one is configured: set and well-formed (whether
    the keys open the database is checked when the daemon or a command starts)."""
    from mailticket.store.encryption import keyring
    from mailticket.store.sealing import SealingError

    var = cfg.storage.encryption_key_env
    if not var:
        return
    try:
        keys = keyring(cfg)
    except SealingError as e:
        yield _check("encryption", None, var, "key", str(e), f"encryption key FAILED: {e}")
        return
    assert keys is not None
    detail = f"{len(keys.keys)} key(s), the first (encrypting) {keys.first.label}"
    yield _check("encryption", None, var, None, detail, f"encryption keys in {var}: {detail}")


def _exposed_secrets(ctx: Ctx, cfg: Any) -> list[str]:
    """A config file that holds a password must not be readable by other accounts."""
    from mailticket.config import find_config_path

    path = Path(find_config_path(ctx.config_path))
    keys = cfg.literal_secrets()
    if not keys or not files.readable_by_others(path):
        return []
    return [f"{path}: holds {', '.join(keys)} and is readable by other accounts "
            f"({stat.filemode(path.stat().st_mode)}); fix with: chmod 600 {path}, or move "
            f"them to the environment (*_env keys)"]


def _check(name: str, department: str | None, target: str, kind: str | None, detail: str,
           text: str) -> dict[str, Any]:
    return {"name": name, "department": department, "target": target, "ok": kind is None,
            "kind": kind, "detail": detail, "text": text}


def _imap_checks(cfg: Any) -> Iterator[dict[str, Any]]:
    from mailticket.ingest.imap import connect
    from mailticket.ingest.imapconn import ImapTlsError

    for d in cfg.departments:
        if d.imap is None:
            yield _check("imap", d.name, "", None, "listener only",
                         f"{d.name}: no IMAP (listener only)")
            continue
        target = f"{d.imap.host}:{d.imap.port}"
        try:
            client = connect(d.imap)
            client.select_folder(d.imap.folder, readonly=True)
            client.logout()
        except Exception as e:
            kind = "tls" if isinstance(e, ImapTlsError) else "error"
            yield _check("imap", d.name, target, kind, str(e),
                         f"{d.name}: IMAP {target} FAILED ({kind}): {e}")
            continue
        yield _check("imap", d.name, target, None, f"folder {d.imap.folder}",
                     f"{d.name}: IMAP login and folder {d.imap.folder!r} OK")


def _outgoing_check(cfg: Any) -> dict[str, Any]:
    from mailticket.outgoing.transport import SmtpTransport, TransportDown

    out = cfg.outgoing
    if out.transport != "smtp":
        return _check("maildir", None, out.maildir, None, "outgoing mail is written there",
                      f"outgoing mail goes to the maildir {out.maildir}")
    target = f"{out.host}:{out.port}"
    try:
        SmtpTransport(out).connect().quit()
    except TransportDown as e:
        return _check("smtp", None, target, e.kind, e.message,
                      f"SMTP FAILED ({e.kind}): {e.message}")
    return _check("smtp", None, target, None, "connected" + (" and logged in" if out.username
                                                             else ""), f"SMTP {target} OK")


@main.group()
def db() -> None:
    """Database schema."""


@db.command()
@pass_ctx
def upgrade(ctx: Ctx) -> None:
    """Apply every pending migration."""
    from mailticket.sla import waits

    app = ctx.app(upgrade=False)
    before = app.db.current_revision()
    app.db.upgrade()
    waits.ensure_built(app.db, app.config)  # the report's tables, from the events
    click.echo(f"database at revision {app.db.current_revision()} (was {before or 'empty'})")


@db.command("rebuild-waits")
@pass_ctx
def rebuild_waits(ctx: Ctx) -> None:
    """Make the report's tables again from the events, with the calendars configured now."""
    from mailticket.sla import waits

    app = ctx.app()
    with app.db.transaction() as s:
        made = waits.rebuild(s, app.config)
    from mailticket.report import days

    summed = days.run(app.db, app.config, app.clock.now())
    click.echo(f"{made} customer messages' waits made again from the events; "
               f"{summed} finished days summed for the report")


@db.command("rotate-key")
@click.option("--batch", type=click.IntRange(1, 100_000), default=500, show_default=True,
              help="rows sealed or re-wrapped per committed transaction")
@json_option
@pass_ctx
def rotate_key(ctx: Ctx, batch: int, as_json: bool) -> None:
    """Move all encrypted content to the first key of the key variable, and encrypt what
    is stored plain; resumable: a rerun continues where a stopped one left off."""
    from mailticket.store.encryption import rotate
    from mailticket.store.sealing import SealingError

    app = ctx.app(upgrade=False)
    app.ensure_schema()
    summary: dict[str, object] = {}
    try:
        for step in rotate(app.db, app.config, batch):
            summary = step
    except SealingError as e:
        click.echo(f"mailticket: {e}", err=True)
        sys.exit(2)
    emit(summary, as_json,
         f"all content under key {summary['key']}: {summary['sealed']} values encrypted, "
         f"{summary['rewrapped']} re-wrapped, {summary['rows']} rows read"
         + (", resumed" if summary["resumed"] else "")
         + (f"; search index rebuilt ({summary['index_rebuilt']} mails)"
            if summary["index_rebuilt"] else "")
         + (f"; no value needs key {', '.join(summary['retired_keys'])} any more"  # type: ignore[arg-type]
            if summary["retired_keys"] else ""))


@db.command("new-key")
def new_key() -> None:
    """Print a new random master key (32 bytes, URL-safe base64) for the key variable."""
    from mailticket.store.sealing import new_key as make

    click.echo(make())


@main.command()
@click.option("--retry", is_flag=True, help="send everything waiting now, ignoring back-off; "
              "exit 1 if any of it could not be sent")
@json_option
@pass_ctx
def outbox(ctx: Ctx, retry: bool, as_json: bool) -> None:
    """Show the mail waiting to be sent; --retry sends it now."""
    from mailticket import views
    from mailticket.daemons import holding
    from mailticket.outgoing.outbox import DeliveryReport

    app = ctx.app()
    unsent = False
    if retry:
        with holding(app, "outbox"):
            report = app.outbox.deliver(retry_all=True)
            total = DeliveryReport(report.sent, report.deferred, report.failed, report.down)
            while report.sent and not report.down:  # batch after batch while the server takes
                report = app.outbox.deliver(retry_all=True)
                total.sent += report.sent
                total.deferred += report.deferred
                total.failed, total.down = total.failed + report.failed, report.down
        unsent = bool(total.down or total.deferred or total.failed)
        click.echo(f"sent {total.sent}, deferred {total.deferred}, failed {total.failed}"
                   + (f"; not sent: {total.down}" if total.down else ""), err=as_json or unsent)
    with session(ctx) as (app, s):
        rows = views.outbox_rows(s, app.config)
    emit(rows, as_json, "\n".join(
        f"{r['id']:>5} {r['kind']:<14} ticket {r['ticket_id'] or '-':<6} attempts "
        f"{r['attempts']:<3} {'FAILED' if r['failed'] else 'next ' + r['next_attempt_at']}  "
        f"{', '.join(r['to'])}  {r['last_error'] or ''}" for r in rows) or "outbox empty")
    sys.exit(1 if unsent else 0)


@main.command()
@click.option("--retry", "retry_id", type=int, metavar="ID",
              help="process quarantined mail ID again (after a fix)")
@click.option("--all", "show_all", is_flag=True, help="also list items already resolved")
@json_option
@pass_ctx
def quarantine(ctx: Ctx, retry_id: int | None, show_all: bool, as_json: bool) -> None:
    """Mail that could not be processed, with the reason; --retry ID tries again."""
    from mailticket import quarantine as q
    from mailticket import views

    app = ctx.app()
    if retry_id is not None:
        try:
            outcome = q.retry(app, retry_id)
        except q.QuarantineError as e:
            raise click.ClickException(str(e)) from None
        click.echo(f"quarantine {retry_id}: {outcome.action}"
                   + (f" (ticket {outcome.ticket_id})" if outcome.ticket_id else "")
                   + (f": {outcome.reason}" if outcome.action == "quarantined" else ""))
        if outcome.action == "quarantined":
            sys.exit(1)
        return
    rows = [views.in_zone(app.config, r, "at", "resolved_at")
            for r in q.listing(app, include_resolved=show_all)]
    emit(rows, as_json, "\n".join(
        f"{r['id']:>5} {r['at']}  {r['source']:<30} {r['size']:>8} B  "
        f"{'resolved ' + r['resolved_at'] if r['resolved_at'] else r['reason']}"
        for r in rows) or "quarantine empty")


if __name__ == "__main__":
    main()


for _command in COMMANDS:
    main.add_command(_command)
