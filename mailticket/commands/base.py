"""What every command shares: the lazily opened app, the common options, output.

A command module (one per domain: ``report``, ``faq``, ``customer`` …) defines its
click commands with these and is listed in ``mailticket.commands.COMMANDS``.
Command modules import at their top only click and this module; what a command
needs (the app, the ORM, Jinja …) is imported in its body, so that ``--help`` or
``search`` does not pay for the daemon's libraries (``bench/startup.py``).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import click

if TYPE_CHECKING:
    from mailticket.app import App


class Ctx:
    def __init__(self, config_path: str | None) -> None:
        self.config_path = config_path
        self._app: App | None = None

    def app(self, upgrade: bool = True, apart: bool = False,
            meanwhile: Callable[[], object] | None = None) -> App:
        if self._app is None:
            from mailticket import files
            from mailticket.app import App, SchemaOutdated
            from mailticket.config import ConfigError, find_config_path, load_config
            from mailticket.ops.logs import use_format
            from mailticket.store.sealing import SealingError

            try:
                path = find_config_path(self.config_path)
                config = load_config(path)
            except ConfigError as e:
                click.echo(f"mailticket: {e}", err=True)
                sys.exit(2)
            use_format(config.logging.format)
            for warning in files.loose_files(files.sqlite_files(config.database.url)):
                logging.getLogger("mailticket").warning("%s", warning)
            self._app = App(config)
            if upgrade:
                try:
                    self._app.ensure_schema(apart=apart, meanwhile=meanwhile)
                except SchemaOutdated as e:
                    click.echo(f"mailticket: {e}", err=True)
                    sys.exit(2)
                except Exception as e:
                    click.echo(f"mailticket: database {config.database.url} unusable: {e}",
                               err=True)
                    sys.exit(2)
                try:
                    self._app.unlock()
                except SealingError as e:
                    click.echo(f"mailticket: {e}", err=True)
                    sys.exit(2)
                # Read (or create) the token secret now, in a transaction of its own: a
                # command that first needs it inside its write transaction would wait
                # on its own SQLite write lock.
                _ = self._app.secret
        return self._app


pass_ctx = click.make_pass_decorator(Ctx)


JSON_HELP = "print JSON (field names in docs/cli.md) instead of text"


def emit(data: Any, as_json: bool, text: str) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False) if as_json else text)


def department_option(fn: Any) -> Any:
    return click.option("--department", "-d", metavar="NAME",
                        help="only this department (a name from the configuration)")(fn)


def json_option(fn: Any) -> Any:
    return click.option("--json", "as_json", is_flag=True, help=JSON_HELP)(fn)


@contextmanager
def session(ctx: Ctx) -> Iterator[tuple[App, Any]]:
    app = ctx.app()
    with app.db.read() as s:
        yield app, s


def department_name(app: App, name: str | None) -> str | None:
    """A --department value that names a configured department (else exit 2, naming them)."""
    known = [d.name for d in app.config.departments]
    if name is not None and name not in known:
        raise click.BadParameter(f"no department {name!r}; known: {', '.join(known)}",
                                 param_hint="--department")
    return name


def instant(value: str, timezone: str, option: str) -> datetime:
    """An ISO date or instant from the command line; without an offset, in ``timezone``
    (a date alone is its midnight)."""
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("use ISO 8601, e.g. 2026-11-24 or 2026-11-24T09:00+01:00",
                                 param_hint=option) from None
    return when if when.tzinfo else when.replace(tzinfo=ZoneInfo(timezone))


