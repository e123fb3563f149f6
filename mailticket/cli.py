"""``mailticket [--config FILE] COMMAND``: thin click commands over the app layer.

Exit codes: 0 fine, 1 the command failed, 2 the configuration or the invocation
is wrong (click's own usage errors are 2 as well).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import click

from mailticket import actions, views
from mailticket.app import App, SchemaOutdated
from mailticket.clock import FixedClock
from mailticket.config import ConfigError, find_config_path, load_config
from mailticket.store.models import STATES, Ticket


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("mail.log", "imapclient", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # APScheduler's "skipped: maximum number of running instances" is expected here.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)


class Ctx:
    def __init__(self, config_path: str | None) -> None:
        self.config_path = config_path
        self._app: App | None = None

    def app(self, upgrade: bool = True, apart: bool = False) -> App:
        if self._app is None:
            try:
                path = find_config_path(self.config_path)
                config = load_config(path)
            except ConfigError as e:
                click.echo(f"mailticket: {e}", err=True)
                sys.exit(2)
            self._app = App(config)
            if upgrade:
                try:
                    self._app.ensure_schema(apart=apart)
                except SchemaOutdated as e:
                    click.echo(f"mailticket: {e}", err=True)
                    sys.exit(2)
                except Exception as e:
                    click.echo(f"mailticket: database {config.database.url} unusable: {e}",
                               err=True)
                    sys.exit(2)
        return self._app


pass_ctx = click.make_pass_decorator(Ctx)


def _emit(data: Any, as_json: bool, text: str) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False) if as_json else text)


@contextmanager
def _session(ctx: Ctx) -> Iterator[tuple[App, Any]]:
    app = ctx.app()
    with app.db.read() as s:
        yield app, s


@click.group()
@click.option("--config", "config_path", envvar="MAILTICKET_CONFIG", type=click.Path(),
              help="configuration file (default: $MAILTICKET_CONFIG, ./mailticket.toml, "
                   "./config.example.toml)")
@click.option("-v", "--verbose", is_flag=True, help="debug logging")
@click.pass_context
def main(click_ctx: click.Context, config_path: str | None, verbose: bool) -> None:
    """mailticket: an email helpdesk that runs as a daemon."""
    _setup_logging(verbose)
    click_ctx.obj = Ctx(config_path)


@main.command()
@pass_ctx
def run(ctx: Ctx) -> None:
    """Run the daemon in the foreground until SIGTERM or Ctrl-C."""
    from mailticket.daemon import run as run_daemon

    app = ctx.app(apart=True)  # a schema upgrade in a child: the daemon stays lean
    _ = app.secret  # create it before any thread needs it
    run_daemon(app)


@main.command()
@click.option("--once", is_flag=True, required=True, help="poll each mailbox once, then exit")
@pass_ctx
def poll(ctx: Ctx, once: bool) -> None:
    """Fetch new mail from every department's IMAP folder, then send the outbox."""
    from mailticket.daemons import holding

    app = ctx.app()
    with holding(app, "poll"):  # what it claims is freed at exit, or when it is killed
        failed = _poll_once(app)
    sys.exit(1 if failed else 0)


def _poll_once(app: App) -> bool:
    """Returns whether a mailbox failed."""
    from mailticket.ingest.imap import ImapPoller

    failed = False
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
        click.echo(f"outbox: {report.down}", err=True)
    return failed


@main.command()
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def status(ctx: Ctx, as_json: bool) -> None:
    """Mail flow per department, SLA counts, outbox and quarantine."""
    with _session(ctx) as (app, s):
        data = views.status(s, app.config, app.clock.now())
    lines = []
    for d in data["departments"]:
        fetch = d["last_fetch"] or ("never" if d["imap"] else "listener only")
        err = f"  last error {d['last_error_at']}: {d['last_error']}" if d["last_error"] else ""
        lines.append(f"{d['department']:<12} {d['address']:<28} last fetch {fetch}  "
                     f"open {d['open']}  at risk {d['at_risk']}  breached {d['breached']}{err}")
    lines.append(f"outbox: {data['outbox_depth']} waiting   quarantine: {data['quarantined']}")
    lines += [f"daemon {d['id']}: {d['command']} on {d['host']} pid {d['pid']}  started "
              f"{d['started_at']}  heartbeat {d['heartbeat_at']}  mailboxes "
              f"{', '.join(d['mailboxes']) or '-'}"
              for d in data["daemons"]] or ["no daemon running"]
    _emit(data, as_json, "\n".join(lines))


def _ticket_lines(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no tickets"
    out = [f"{'ID':>5}  {'REF':<16} {'STATE':<8} {'SLA':<9} {'DUE':<25} {'CUSTOMER':<28} SUBJECT"]
    for r in rows:
        out.append(f"{r['id']:>5}  {r['ref']:<16} {r['state']:<8} {r['sla'] or '-':<9} "
                   f"{r['due_at'] or '-':<25} {r['customer']:<28} {r['subject'][:60]}")
    return "\n".join(out)


@main.command()
@click.option("--department", "-d")
@click.option("--state", "-s", type=click.Choice(STATES))
@click.option("--overdue", is_flag=True, help="only tickets whose answer is late")
@click.option("--at-risk", is_flag=True, help="only tickets past the warning point, not yet late")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def tickets(ctx: Ctx, department: str | None, state: str | None, overdue: bool,
            at_risk: bool, as_json: bool) -> None:
    """List tickets."""
    with _session(ctx) as (app, s):
        rows = views.list_tickets(s, app.config, app.clock.now(), department=department,
                                  state=state, overdue=overdue, at_risk=at_risk)
    _emit(rows, as_json, _ticket_lines(rows))


@main.command()
@click.argument("ticket_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def show(ctx: Ctx, ticket_id: int, as_json: bool) -> None:
    """One ticket with its whole thread."""
    with _session(ctx) as (app, s):
        t = s.get(Ticket, ticket_id)
        if t is None:
            raise click.ClickException(f"no ticket {ticket_id}")
        d = views.ticket_detail(app.config, t, app.clock.now())
    lines = [f"{d['ref']} {d['subject']}",
             f"state {d['state']}  priority {d['priority']}  assignee {d['assignee'] or '-'}  "
             f"due {d['due_at'] or '-'}  sla {d['sla'] or '-'}",
             "participants: " + ", ".join(f"{p['address']} ({p['role']})"
                                          for p in d["participants"])]
    for m in d["messages"]:
        lines += ["", f"--- {m['date']}  {m['direction']} {m['kind']}  {m['from']} -> "
                      f"{', '.join(m['to'])}", m["text"].rstrip()]
    _emit(d, as_json, "\n".join(lines))


def _change(ctx: Ctx, fn: Any, ticket_id: int, *args: Any) -> None:
    app = ctx.app()
    try:
        with app.db.transaction() as s:
            t = fn(s, ticket_id, *args, app.clock.now())
            click.echo(f"ticket {t.id}: state {t.state}, assignee {t.assignee or '-'}")
    except actions.ActionError as e:
        raise click.ClickException(str(e)) from None


@main.command()
@click.argument("ticket_id", type=int)
@click.option("--quiet", is_flag=True, help="do not send the customer the closed notice")
@pass_ctx
def close(ctx: Ctx, ticket_id: int, quiet: bool) -> None:
    """Close a ticket (stops its SLA clock; tells the customer unless --quiet)."""
    app = ctx.app()

    def close_and_tell(s: Any, tid: int, now: datetime) -> Ticket:
        t = actions.set_state(s, tid, "closed", now)
        if not quiet:
            dept = app.config.department(t.department)
            app.pipeline.mailer.closed_notice(s, t, dept, now)
        return t

    _change(ctx, close_and_tell, ticket_id)


@main.command()
@click.argument("ticket_id", type=int)
@pass_ctx
def reopen(ctx: Ctx, ticket_id: int) -> None:
    """Reopen a closed ticket."""
    _change(ctx, actions.set_state, ticket_id, "open")


@main.command()
@click.argument("ticket_id", type=int)
@click.argument("agent")
@pass_ctx
def assign(ctx: Ctx, ticket_id: int, agent: str) -> None:
    """Assign a ticket to an agent address ("-" to unassign)."""
    _change(ctx, actions.assign, ticket_id, None if agent == "-" else agent.lower())


@main.command("sla")
@click.option("--at", "at", help="ISO instant, e.g. 2026-11-24T09:00+01:00 (default: now)")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def sla_cmd(ctx: Ctx, at: str | None, as_json: bool) -> None:
    """What is overdue or at risk now, or at a given instant."""
    app = ctx.app()
    when = app.clock.now()
    if at:
        try:
            when = datetime.fromisoformat(at)
        except ValueError:
            raise click.BadParameter("use ISO 8601, e.g. 2026-11-24T09:00+01:00",
                                     param_hint="--at") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=ZoneInfo(app.config.calendar.timezone))
    app.clock = FixedClock(when.astimezone(UTC))
    with app.db.transaction() as s:
        rows = views.list_tickets(s, app.config, app.clock.now(), overdue=True, at_risk=True)
    _emit(rows, as_json, f"at {when.isoformat()}:\n" + _ticket_lines(rows))


@main.command("check-config")
@click.option("--offline", is_flag=True, help="validate only; do not try IMAP and SMTP logins")
@pass_ctx
def check_config(ctx: Ctx, offline: bool) -> None:
    """Validate the configuration, then try each IMAP and SMTP login."""
    from mailticket.ingest.imap import connect
    from mailticket.transport import SmtpTransport

    app = ctx.app(upgrade=False)
    cfg = app.config
    click.echo(f"configuration OK: {len(cfg.departments)} department(s)")
    if offline:
        return
    failed = False
    for d in cfg.departments:
        if d.imap is None:
            click.echo(f"{d.name}: no IMAP (listener only)")
            continue
        try:
            client = connect(d.imap)
            client.select_folder(d.imap.folder, readonly=True)
            client.logout()
            click.echo(f"{d.name}: IMAP login and folder {d.imap.folder!r} OK")
        except Exception as e:
            failed = True
            click.echo(f"{d.name}: IMAP {d.imap.host}:{d.imap.port} FAILED: {e}", err=True)
    if cfg.outgoing.transport == "smtp":
        try:
            SmtpTransport(cfg.outgoing).connect().quit()
            click.echo(f"SMTP {cfg.outgoing.host}:{cfg.outgoing.port} OK")
        except Exception as e:
            failed = True
            click.echo(f"SMTP FAILED: {e}", err=True)
    else:
        click.echo(f"outgoing mail goes to the maildir {cfg.outgoing.maildir}")
    sys.exit(1 if failed else 0)


@main.group()
def db() -> None:
    """Database schema."""


@db.command()
@pass_ctx
def upgrade(ctx: Ctx) -> None:
    """Apply every pending migration."""
    app = ctx.app(upgrade=False)
    before = app.db.current_revision()
    app.db.upgrade()
    click.echo(f"database at revision {app.db.current_revision()} (was {before or 'empty'})")


@main.command()
@click.option("--retry", is_flag=True, help="send everything waiting now, ignoring back-off")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def outbox(ctx: Ctx, retry: bool, as_json: bool) -> None:
    """Show the mail waiting to be sent; --retry sends it now."""
    from sqlalchemy import select

    from mailticket.daemons import holding
    from mailticket.store.models import OutboxItem

    app = ctx.app()
    if retry:
        with holding(app, "outbox"):
            report = app.outbox.deliver(retry_all=True)
        click.echo(f"sent {report.sent}, deferred {report.deferred}, failed {report.failed}"
                   + (f"; server down: {report.down}" if report.down else ""))
    with app.db.transaction() as s:
        items = s.scalars(select(OutboxItem).where(
            OutboxItem.sent_at.is_(None)).order_by(OutboxItem.id)).all()
        rows = [{"id": i.id, "ticket_id": i.ticket_id, "kind": i.kind,
                 "message_id": i.message_id, "to": i.rcpt_to, "attempts": i.attempts,
                 "next_attempt_at": i.next_attempt_at.isoformat(),
                 "failed": i.failed_at is not None, "last_error": i.last_error}
                for i in items]
    _emit(rows, as_json, "\n".join(
        f"{r['id']:>5} {r['kind']:<14} ticket {r['ticket_id'] or '-':<6} attempts "
        f"{r['attempts']:<3} {'FAILED' if r['failed'] else 'next ' + r['next_attempt_at']}  "
        f"{', '.join(r['to'])}  {r['last_error'] or ''}" for r in rows) or "outbox empty")


@main.command()
@click.option("--retry", "retry_id", type=int, metavar="ID",
              help="process quarantined mail ID again (after a fix)")
@click.option("--all", "show_all", is_flag=True, help="also list items already resolved")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def quarantine(ctx: Ctx, retry_id: int | None, show_all: bool, as_json: bool) -> None:
    """Mail that could not be processed, with the reason; --retry ID tries again."""
    from mailticket import quarantine as q

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
    rows = q.listing(app, include_resolved=show_all)
    _emit(rows, as_json, "\n".join(
        f"{r['id']:>5} {r['at']}  {r['source']:<30} {r['size']:>8} B  "
        f"{'resolved ' + r['resolved_at'] if r['resolved_at'] else r['reason']}"
        for r in rows) or "quarantine empty")


if __name__ == "__main__":
    main()
