"""Retention: a closed ticket past [retention] closed_after loses its content (purge, and
the daemon's job); an open one, or a younger closed one, keeps it."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from mailticket import actions
from mailticket.cli import main
from mailticket.config import ConfigError, parse_config
from mailticket.customers.retention import purge
from mailticket.daemon import Daemon
from mailticket.store.models import Ticket
from mailticket.store.writes import writing
from tests.builders import config_toml, department, sqlite
from tests.test_customer_export import (
    ANN,
    ANN_FILE,
    ANN_PHRASE,
    BJORN,
    BJORN_PHRASE,
    DOMAIN,
    MONDAY,
    Desk,
    build_desk,
)

POLICY = '[retention]\nclosed_after = "1 day"\ncheck_every = "1 second"\n'


def close_ann(desk: Desk) -> None:
    with desk.app.db.transaction() as s, writing(s) as w:
        actions.close(w, 1, MONDAY)


def ticket(desk: Desk, ticket_id: int) -> Ticket:
    with desk.app.db.read() as s:
        t = s.get(Ticket, ticket_id)
        assert t is not None
        _ = [m.raw for m in t.messages]
        s.expunge(t)
        return t


def test_purge_erases_an_old_closed_ticket_and_keeps_an_open_one(tmp_path):
    desk = build_desk(tmp_path, extra=POLICY)
    close_ann(desk)
    cfg = desk.app.config

    young = purge(desk.app.db, cfg, MONDAY + timedelta(hours=23))
    assert young["count"] == 0

    later = MONDAY + timedelta(days=2)
    dry = purge(desk.app.db, cfg, later, dry_run=True)
    assert [t["id"] for t in dry["tickets"]] == [1]
    assert ticket(desk, 1).customer == ANN  # a dry run changes nothing

    done = purge(desk.app.db, cfg, later)
    assert [t["id"] for t in done["tickets"]] == [1]
    erased, kept = ticket(desk, 1), ticket(desk, 2)
    assert erased.customer.endswith("@erased.invalid") and erased.subject == ""
    assert all(m.text == "" and m.raw == b"" for m in erased.messages)
    assert erased.state == "closed" and erased.created_at == MONDAY
    assert kept.customer == BJORN and kept.subject == "Heron question"
    assert any(m.text for m in kept.messages)
    files = b"".join(p.read_bytes() for p in tmp_path.glob("x.db*"))
    assert ANN_PHRASE.encode() not in files and ANN_FILE[9:60] not in files
    assert BJORN_PHRASE.encode() in files
    # Erased once: the next run finds nothing more.
    assert purge(desk.app.db, cfg, later)["count"] == 0
    desk.app.close()


def test_a_department_keeps_its_own_period(tmp_path):
    desk = build_desk(tmp_path, extra=POLICY, retention={"closed_after": "30 days"})
    close_ann(desk)
    cfg = desk.app.config
    assert purge(desk.app.db, cfg, MONDAY + timedelta(days=2))["count"] == 0
    assert purge(desk.app.db, cfg, MONDAY + timedelta(days=31))["count"] == 1
    desk.app.close()


def test_the_daemon_applies_retention_on_its_own(tmp_path):
    desk = build_desk(tmp_path, extra=POLICY)
    close_ann(desk)
    desk.app.clock.advance(timedelta(days=2))  # type: ignore[attr-defined]
    daemon = Daemon(desk.app)
    daemon.start()
    try:
        deadline = time.monotonic() + 15
        while ticket(desk, 1).customer == ANN and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        daemon.stop()
    assert ticket(desk, 1).customer.endswith("@erased.invalid")
    assert ticket(desk, 2).customer == BJORN
    desk.app.close()


@pytest.mark.parametrize("value", ["365", "2 business days", "0 days", "soon"])
def test_a_bad_period_names_the_key(tmp_path, value):
    text = config_toml(database=sqlite(tmp_path), departments=[department("support", DOMAIN)],
                       tables={"retention": {"closed_after": value}})
    with pytest.raises(ConfigError, match=r"retention\.closed_after"):
        parse_config(text)


def test_cli_purge(tmp_path: Path):
    desk = build_desk(tmp_path, extra=POLICY)
    close_ann(desk)  # closed on 23 November 2026: more than a day ago for the CLI's clock
    runner = CliRunner()

    def config(extra: str) -> dict[str, str]:
        path = tmp_path / "cli.toml"
        path.write_text(config_toml(
            database={"url": desk.app.config.database.url}, extra=extra,
            departments=[department("support", DOMAIN, agents=["alice"])]))
        return {"MAILTICKET_CONFIG": str(path)}

    r = runner.invoke(main, ["purge"], env=config(""))
    assert r.exit_code == 2 and "closed_after" in r.output
    r = runner.invoke(main, ["purge", "--dry-run", "--json"], env=config(POLICY))
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["dry_run"] is True
    assert [t["id"] for t in json.loads(r.output)["tickets"]] == [1]
    assert ticket(desk, 1).customer == ANN
    r = runner.invoke(main, ["purge"], env=config(POLICY))
    assert r.exit_code == 0 and "erased the content of 1 closed ticket" in r.output
    assert ticket(desk, 1).customer != ANN
    desk.app.close()
