"""`[logging] format = "json"`: a daemon's every stderr line is one JSON object, and the
lines about a mail carry its Message-ID, ticket and department as fields."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest

from mailticket.ops.logs import mail_context, use_format
from tests.conftest import mail, start_daemon, stop_daemon


@pytest.mark.integration
def test_daemon_logs_one_json_object_per_line_with_the_mail_s_fields(make_world, tmp_path):
    w = make_world(extra='[logging]\nformat = "json"')
    question = mail(f"ann@{w.domain}", w.addr("support"), "Printer on fire", "It smokes.")
    w.deliver("support", question)
    log_path = tmp_path / "daemon.log"
    with open(log_path, "wb") as log:
        proc = start_daemon(w, log)
        try:
            [auto] = w.wait_inbox("ann", 1, timeout=30)
        finally:
            stop_daemon(proc)
    lines = log_path.read_text().splitlines()
    assert lines
    records = [json.loads(line) for line in lines]  # any text line fails here
    assert all({"time", "level", "logger", "message"} <= r.keys() for r in records)
    [opened] = [r for r in records if r.get("message_id") == question["Message-ID"]
                and "ticket" in r]
    ticket = int(auto["Subject"].split("#")[1].split("]")[0])
    assert opened["ticket"] == ticket
    assert opened["department"] == "support"
    assert opened["source"].startswith("imap:support:")
    assert any(r["message"] == "mailticket stopped" for r in records)


def test_text_stays_the_default(make_world):
    w = make_world()
    out = subprocess.run([sys.executable, "-m", "mailticket", "--config", str(w.config_path),
                          "status"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert not any(line.startswith("{") for line in out.stderr.splitlines())


def test_lines_outside_a_mail_carry_no_mail_fields():
    logger = logging.getLogger("mailticket.test_json_logs")
    handler = logging.StreamHandler()
    logging.getLogger().addHandler(handler)
    try:
        use_format("json")
        with mail_context(message_id="<m1@x>", source="imap:support:1:7"):
            record = logger.makeRecord(logger.name, logging.INFO, __file__, 1, "inside", (),
                                       None)
            handler.filter(record)
        outside = logger.makeRecord(logger.name, logging.INFO, __file__, 1, "outside", (),
                                    None)
        handler.filter(outside)
        inside = json.loads(handler.format(record))
        after = json.loads(handler.format(outside))
    finally:
        logging.getLogger().removeHandler(handler)
        use_format("text")
    assert inside["message_id"] == "<m1@x>" and inside["source"] == "imap:support:1:7"
    assert "message_id" not in after
