"""The CLI refuses what it cannot do instead of ignoring it, and says things one way:
times in the department's zone, a ticket's history in order, --help for every option."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import click
import pytest
from click.testing import CliRunner

from mailticket.cli import main
from mailticket.store.models import Event, Quarantine
from tests.conftest import mail

pytestmark = pytest.mark.integration

ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:[+-]\d\d:\d\d|Z)?")


def cli(w, *args):
    return CliRunner().invoke(main, ["--config", str(w.config_path), *args])


def run(w, *args, code=0):
    r = cli(w, *args)
    assert r.exit_code == code, r.output
    return r.output


def one_ticket(w, subject="Hello"):
    w.deliver("support", mail(f"jane@{w.domain}", w.addr("support"), subject, "Help me"))
    w.poll()


def test_an_unknown_department_is_refused_naming_the_known_ones(make_world):
    w = make_world()
    one_ticket(w)
    r = cli(w, "tickets", "--department", "nosuch")
    assert r.exit_code == 2
    assert "no department 'nosuch'" in r.output and "support, sales" in r.output
    assert "no tickets" not in r.output
    assert "[Support #1]" in run(w, "tickets", "-d", "support")


def test_assign_only_to_an_agent_of_the_tickets_department(make_world):
    w = make_world()
    one_ticket(w)
    r = cli(w, "assign", "1", "nobody-special")
    assert r.exit_code == 2
    assert f"alice@{w.domain}, bob@{w.domain}" in r.output and '"-" unassigns' in r.output
    assert cli(w, "assign", "1", f"carol@{w.domain}").exit_code == 2  # sales, not support
    assert json.loads(run(w, "show", "1", "--json"))["assignee"] is None
    t = json.loads(run(w, "assign", "1", f"Alice@{w.domain}", "--json"))
    assert (t["id"], t["assignee"], t["ref"]) == (1, f"alice@{w.domain}", "[Support #1]")
    assert json.loads(run(w, "assign", "1", "bob", "--json"))["assignee"] == f"bob@{w.domain}"
    assert json.loads(run(w, "assign", "1", "-", "--json"))["assignee"] is None


def test_reopen_only_a_closed_ticket_and_close_only_once(make_world):
    w = make_world()
    one_ticket(w)
    r = cli(w, "reopen", "1")
    assert r.exit_code == 1 and "ticket 1 is new, not closed" in r.output
    assert json.loads(run(w, "show", "1", "--json"))["state"] == "new"
    closed = json.loads(run(w, "close", "1", "--json"))
    assert (closed["state"], closed["due_at"]) == ("closed", None)
    again = cli(w, "close", "1")
    assert again.exit_code == 1 and "closed already" in again.output
    w.poll()
    notices = [m for m in w.inbox("jane") if "closed" in str(m["Subject"]) or
               "has now been closed" in m.get_body(("plain",)).get_content()]
    assert len(notices) == 1, "the customer is told once"
    assert json.loads(run(w, "reopen", "1", "--json"))["state"] == "open"


def test_poll_without_once_polls_once(make_world):
    w = make_world()
    w.deliver("support", mail(f"jane@{w.domain}", w.addr("support"), "Hi", "x"))
    assert "support: 1 new mail(s)" in run(w, "poll")
    assert "support: 0 new mail(s)" in run(w, "poll", "--once")


def test_every_time_shown_is_in_the_departments_zone(make_world):
    w = make_world()
    one_ticket(w)
    run(w, "assign", "1", f"bob@{w.domain}")
    # Mail waiting in the outbox, and a quarantined mail.
    w.reconfigure('password = "relay-pw"', 'password = "wrong"')
    run(w, "close", "1")
    with w.app.db.transaction() as s:
        s.add(Quarantine(at=datetime.now(UTC), source="test", department="support",
                         reason="unparseable", raw=b"x"))
        # As the escalation scan records a warning: its due instant in UTC.
        s.add(Event(ticket_id=1, at=datetime.now(UTC), kind="sla_warning",
                    detail={"level": 1, "to": [f"bob@{w.domain}"],
                            "due_at": datetime.now(UTC).isoformat()}))
    offset = datetime.now(ZoneInfo("Europe/Paris")).isoformat()[-6:]
    outputs = {}
    for args in (["tickets"], ["show", "1"], ["status"], ["outbox"], ["quarantine"],
                 ["sla", "--at", "2030-01-07T09:00+00:00"]):
        outputs[" ".join(args)] = run(w, *args)
        outputs[" ".join(args) + " --json"] = run(w, *args, "--json")
    for name, out in outputs.items():
        found = ISO.findall(out)
        if name.split()[0] in ("show", "outbox", "quarantine") or name == "sla --at " \
                "2030-01-07T09:00+00:00":
            assert found, f"{name}: no time shown\n{out}"
        for t in found:
            assert t.endswith(offset) or t.endswith("+01:00") and name.startswith("sla"), \
                f"{name}: {t} is not in Paris time\n{out}"
    assert "2030-01-07T10:00:00+01:00" in outputs["sla --at 2030-01-07T09:00+00:00"]


def test_tickets_text_shows_assignee_and_priority(make_world):
    w = make_world()
    one_ticket(w)
    run(w, "assign", "1", f"bob@{w.domain}")
    lines = run(w, "tickets").splitlines()
    assert "PRIO" in lines[0] and "ASSIGNEE" in lines[0]
    assert f"bob@{w.domain}" in lines[1] and " normal " in lines[1]


def test_show_tells_the_history_in_order_with_one_line_per_notification(make_world):
    w = make_world()
    one_ticket(w)
    first = json.loads(run(w, "show", "1", "--json"))["messages"][0]["message_id"]
    # From an agent's address, without the proof a real agent reply carries: a spoof.
    w.deliver("support", mail(f"alice@{w.domain}", w.addr("support"),
                              "Re: [Support #1] Hello", "I am alice, honest",
                              in_reply_to=first))
    w.poll()
    run(w, "assign", "1", f"alice@{w.domain}")
    run(w, "close", "--quiet", "1")
    out = run(w, "show", "1")
    agents = f"alice@{w.domain}, bob@{w.domain}"
    assert out.count(f"out notification to {agents}") == 2, out  # the mail and the spoof
    assert "out notification to alice@" not in out.replace(
        f"out notification to {agents}", ""), "one line per notification, not per copy"
    wanted = ("in customer  jane", "out auto_response", "in customer  alice", "suspected spoof",
              f"assigned to alice@{w.domain}  (by admin)", "state open -> closed  (by admin)")
    assert all(s in out for s in wanted), out
    order = [out.index(s) for s in wanted]
    assert order == sorted(order), out
    d = json.loads(run(w, "show", "1", "--json"))
    kinds = [e["kind"] for e in d["events"]]
    assert {"suspected_spoof", "assigned", "state_changed"} <= set(kinds)
    assert [e["at"] for e in d["events"]] == sorted(e["at"] for e in d["events"])


def test_check_config_json(make_world):
    w = make_world()
    d = json.loads(run(w, "check-config", "--json"))
    assert d["ok"] is True and d["departments"] == 2
    assert [(c["name"], c["department"], c["ok"]) for c in d["checks"]] == [
        ("imap", "support", True), ("imap", "sales", True), ("smtp", None, True)]
    w.reconfigure('password = "relay-pw"', 'password = "wrong"')
    r = cli(w, "check-config", "--json")
    assert r.exit_code == 1
    smtp = json.loads(r.output)["checks"][-1]
    assert (smtp["ok"], smtp["kind"]) == (False, "authentication")
    assert json.loads(run(w, "check-config", "--offline", "--json"))["checks"] == []


def _commands(group: click.Group, path: str = "mailticket"):
    yield path, group
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, f"{path} {name}")
        else:
            yield f"{path} {name}", cmd


def test_every_option_of_every_command_has_help():
    missing = [f"{path} {'/'.join(p.opts)}" for path, cmd in _commands(main)
               for p in cmd.params if isinstance(p, click.Option) and not p.help]
    assert missing == []
    assert all(cmd.help for _, cmd in _commands(main))
    r = CliRunner().invoke(main, ["tickets", "--help"])
    assert "only this department" in r.output
