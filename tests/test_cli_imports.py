"""A command loads only what it runs: `mailticket --help` no database library, `search`
and `tickets` none of the daemon's (Jinja, the parsers, IMAP, the listener, language
detection …).  Each is a process of its own, as an admin runs it; what it answers is
checked too.  Timings are in bench/startup.py, not here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mailticket.mail.subject import tag
from tests.builders import mail
from tests.corpora import HELPDESK_DOMAIN, throwaway_app

# What the daemon needs and a reading command does not.
DAEMON_ONLY = ("jinja2", "imapclient", "aiosmtpd", "aiosmtplib", "lingua", "simplemma",
               "alembic", "apscheduler", "prometheus_client", "matplotlib", "inscriptis",
               "quotequail", "holidays", "mailticket.pipeline", "mailticket.incoming")
_RUN = ("import runpy, sys\n"
        "sys.argv = ['mailticket', *sys.argv[1:]]\n"
        "try:\n"
        "    runpy.run_module('mailticket', run_name='__main__')\n"
        "finally:\n"
        "    print(' '.join(sorted(sys.modules)), file=sys.stderr)\n")


def run(*args: str) -> tuple[str, set[str]]:
    """The output of ``mailticket ARGS`` and the modules it left imported."""
    done = subprocess.run([sys.executable, "-c", _RUN, *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout, set(done.stderr.splitlines()[-1].split())


def loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return [n for n in names if any(m == n or m.startswith(n + ".") for m in modules)]


def test_help_loads_no_database_library():
    out, modules = run("--help")
    assert "search" in out and "tickets" in out
    assert loaded(modules, ("sqlalchemy", "pydantic", *DAEMON_ONLY)) == []


@pytest.fixture
def desk(tmp_path: Path):
    app = throwaway_app(tmp_path / "desk")
    outcome = app.ingest(bytes(mail("jane@customer.example", f"support@{HELPDESK_DOMAIN}",
                                    "Cannot log in", "Hello, I forgot my password.")),
                         department="support", source="test")
    app.close()
    return tmp_path / "desk" / "config.toml", outcome.ticket_id


def test_search_finds_the_ticket_without_the_daemons_libraries(desk):
    config, ticket = desk
    out, modules = run("--config", str(config), "search", "passwords", "--json")
    assert [h["ref"] for h in json.loads(out)["hits"]] == [tag("Support", ticket)]
    # Search reads with Core: not even the ORM (with the token secret in the config).
    assert loaded(modules, (*DAEMON_ONLY, "sqlalchemy.orm", "mailticket.store.models")) == []


def test_tickets_lists_the_ticket_without_the_daemons_libraries(desk):
    config, ticket = desk
    out, modules = run("--config", str(config), "tickets", "--json")
    assert [t["id"] for t in json.loads(out)] == [ticket]
    assert loaded(modules, tuple(m for m in DAEMON_ONLY if m != "mailticket.incoming")) == []


def test_storing_plain_mail_loads_no_cipher_and_one_holiday_country(tmp_path: Path):
    """The daemon's ingest, in a process of its own: mail stored plain (the default)
    leaves cryptography unloaded (8.5 MB), and the calendar's holidays load its one
    country, not the 250 of ``holidays.countries`` (6.7 MB)."""
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from tests.builders import mail\n"
        "from tests.corpora import HELPDESK_DOMAIN, throwaway_app\n"
        "app = throwaway_app(Path(sys.argv[1]), extra='[calendar]\\nholidays = \"FR\"')\n"
        "raw = bytes(mail('jane@customer.example', f'support@{HELPDESK_DOMAIN}', 'Printer',\n"
        "                 'Hello, my printer is on fire.'))\n"
        "print(app.ingest(raw, department='support', source='test').action)\n"
        "print(' '.join(sorted(sys.modules)))\n")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "desk")],
                          capture_output=True, text=True, cwd=Path(__file__).parent.parent)
    assert done.returncode == 0, done.stderr
    action, modules = done.stdout.splitlines()[-2:]
    loaded_now = set(modules.split())
    assert action == "new_ticket"
    assert loaded(loaded_now, ("cryptography",)) == []
    countries = [m for m in loaded_now if m.startswith("holidays.countries.")]
    assert "holidays.countries.france" in countries and len(countries) < 5
