"""A mail that breaks the pipeline is kept with its reason, and can be retried after a fix."""

from __future__ import annotations

import json

from click.testing import CliRunner

from mailticket.cli import main
from tests.builders import config_toml, department, maildir, sqlite


def config(tmp_path) -> str:
    return config_toml(database=sqlite(tmp_path), outgoing=maildir(tmp_path), departments=[
        department("support", "example.com", agents=["alice"], template_dir=f"{tmp_path}/tpl")])


MAIL = (b"From: Jane <jane@customer.example>\r\nTo: support@example.com\r\n"
        b"Subject: Help\r\nMessage-ID: <q1@customer.example>\r\n\r\nHello\r\n")


def run(cfg, *args):
    return CliRunner().invoke(main, ["--config", str(cfg), *args])


def test_quarantine_then_retry_after_fixing_the_template(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(config(tmp_path))
    tpl = tmp_path / "tpl" / "en"
    tpl.mkdir(parents=True)
    (tpl / "auto_response.txt.j2").write_text("Hello {{ no_such_variable }}\n")

    from mailticket.app import App
    from mailticket.config import load_config

    app = App(load_config(cfg))
    app.ensure_schema()
    outcome = app.ingest(MAIL, department="support", source="imap:support:1:7")
    assert outcome.action == "quarantined"
    app.close()

    listed = json.loads(run(cfg, "quarantine", "--json").output)
    assert [(q["id"], q["source"]) for q in listed] == [(1, "imap:support:1:7")]
    assert "no_such_variable" in listed[0]["reason"]
    assert json.loads(run(cfg, "tickets", "--json").output) == []
    assert json.loads(run(cfg, "status", "--json").output)["quarantined"] == 1

    still_broken = run(cfg, "quarantine", "--retry", "1")
    assert still_broken.exit_code == 1 and "no_such_variable" in still_broken.output

    (tpl / "auto_response.txt.j2").write_text("Hello, we got it: {{ ref }}\n")
    fixed = run(cfg, "quarantine", "--retry", "1")
    assert fixed.exit_code == 0, fixed.output
    assert "new_ticket (ticket 1)" in fixed.output
    assert json.loads(run(cfg, "quarantine", "--json").output) == []
    [t] = json.loads(run(cfg, "tickets", "--json").output)
    assert t["customer"] == "jane@customer.example"
    again = run(cfg, "quarantine", "--retry", "1")
    assert again.exit_code == 1 and "resolved already" in again.output
