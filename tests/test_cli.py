"""What the admin sees and does from the command line."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from mailticket.cli import main
from mailticket.store.db import SCHEMA_HEAD
from tests.builders import config_toml, department, sqlite
from tests.conftest import body, mail

pytestmark = pytest.mark.integration


def run(w, *args, code=0):
    r = CliRunner().invoke(main, ["--config", str(w.config_path), *args])
    assert r.exit_code == code, r.output
    return r.output


def test_close_reopen_assign_are_recorded(make_world):
    w = make_world()
    w.deliver("support", mail(f"jane@{w.domain}", w.addr("support"), "Hello", "x"))
    w.poll()
    assert "state closed" in run(w, "close", "1")
    t = json.loads(run(w, "show", "1", "--json"))
    assert (t["state"], t["due_at"], t["sla"]) == ("closed", None, None)  # never answered
    w.poll()
    assert "has now been closed" in body(w.wait_inbox("jane", 2)[-1])
    assert "state open" in run(w, "reopen", "1")
    assert "state closed" in run(w, "close", "--quiet", "1")
    run(w, "reopen", "1")
    w.poll()
    assert len(w.inbox("jane")) == 2, "--quiet sends nothing"
    assert f"assignee bob@{w.domain}" in run(w, "assign", "1", f"Bob@{w.domain}")
    assert json.loads(run(w, "tickets", "--json", "--state", "open"))[0]["assignee"] == \
        f"bob@{w.domain}"
    assert "no ticket 99" in run(w, "close", "99", code=1)
    human = run(w, "show", "1")
    assert "[Support #1] Hello" in human and f"jane@{w.domain} (customer)" in human


def test_poll_once_one_broken_department_does_not_stop_the_others(make_world):
    w = make_world()
    text = w.config_path.read_text().replace(
        f'username = "sales@{w.domain}", password = "pw"',
        f'username = "sales@{w.domain}", password = "wrong"')
    w.config_path.write_text(text)
    w.deliver("support", mail(f"jane@{w.domain}", w.addr("support"), "Works", "x"))
    r = CliRunner().invoke(main, ["--config", str(w.config_path), "poll", "--once"])
    assert r.exit_code == 1
    assert "support: 1 new mail(s)" in r.output
    assert "sales: IMAP failed" in r.output
    assert len(w.wait_inbox("jane", 1)) == 1  # the outbox ran too


def test_check_config_tries_the_logins(make_world):
    w = make_world()
    out = run(w, "check-config")
    assert "support: IMAP login and folder 'INBOX' OK" in out
    assert "SMTP 127.0.0.1" in out and "OK" in out
    text = w.config_path.read_text().replace('password = "relay-pw"', 'password = "nope"')
    w.config_path.write_text(text)
    bad = CliRunner().invoke(main, ["--config", str(w.config_path), "check-config"])
    assert bad.exit_code == 1 and "SMTP FAILED" in bad.output


def test_db_upgrade_when_automatic_upgrades_are_off(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(config_toml(secret=None, database={**sqlite(tmp_path, "new.db"),
                                                      "auto_upgrade": False},
                               departments=[department("support", "example.com")]))
    runner = CliRunner()
    before = runner.invoke(main, ["--config", str(cfg), "status"])
    assert before.exit_code == 2 and "mailticket db upgrade" in before.output
    up = runner.invoke(main, ["--config", str(cfg), "db", "upgrade"])
    assert up.exit_code == 0 and f"revision {SCHEMA_HEAD} (was empty)" in up.output
    after = runner.invoke(main, ["--config", str(cfg), "status", "--json"])
    assert after.exit_code == 0, after.output
    assert json.loads(after.output)["outbox_depth"] == 0
