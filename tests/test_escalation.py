"""Warnings and escalations under a controlled clock: each notice once, at its instant."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from mailticket.app import App
from mailticket.clock import FixedClock
from mailticket.config import parse_config
from mailticket.store.models import Event, Message, OutboxItem, Ticket
from mailticket.store.writes import writing
from tests.builders import (
    ONE_DAY,
    PARIS_OFFICE,
    config_toml,
    department,
    mail,
    maildir,
    sqlite,
)


def config(tmp_path) -> str:
    """One department whose SLA warns at 75 % and escalates twice more, a day apart."""
    return config_toml(
        database=sqlite(tmp_path), outgoing=maildir(tmp_path), calendar=PARIS_OFFICE,
        sla={**ONE_DAY, "warn_at": 0.75, "escalation": ["1 business day", "2 business days"]},
        departments=[department("support", "example.com", agents=["alice", "bob"],
                                escalate_to=["lead"])])


PARIS = "+01:00"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text + PARIS).astimezone(UTC)


@pytest.fixture
def app(tmp_path):
    cfg = parse_config(config(tmp_path))
    a = App(cfg, FixedClock(at("2026-11-23T10:15")))
    a.ensure_schema()
    yield a
    a.close()


def customer_mail(subject: str = "Printer on fire") -> bytes:
    return bytes(mail("Jane <jane@customer.example>", "support@example.com", subject,
                      "My printer is on fire. What should I do?", date=None,
                      message_id=f"<{subject.replace(' ', '.')}@customer.example>"))


def notices(app: App) -> list[tuple[str, tuple[str, ...]]]:
    with app.db.transaction() as s:
        rows = s.scalars(select(OutboxItem).where(
            OutboxItem.kind.in_(("warning", "escalation"))).order_by(OutboxItem.id))
        return [(r.kind, tuple(r.rcpt_to)) for r in rows]


def scan(app: App, when: str) -> int:
    app.clock.at = at(when)
    return app.escalator.run(app.clock.now())


def test_warning_then_breach_then_each_level_exactly_once(app):
    app.ingest(customer_mail(), department="support", source="test")
    with app.db.transaction() as s:
        t = s.get(Ticket, 1)
        # Monday 10:15 + one business day = Tuesday 10:15; 75 % of those 8 open hours
        # (6 h) is Monday 16:15.
        assert t.due_at == at("2026-11-24T10:15")
        assert t.warn_at == at("2026-11-23T16:15")
    assert scan(app, "2026-11-23T16:14") == 0
    assert scan(app, "2026-11-23T16:15") == 1
    assert scan(app, "2026-11-23T16:30") == 0
    assert notices(app) == [("warning", ("alice@example.com",)),
                            ("warning", ("bob@example.com",))]
    assert scan(app, "2026-11-24T10:14") == 0
    assert scan(app, "2026-11-24T10:15") == 1
    assert notices(app)[-1] == ("escalation", ("lead@example.com",))
    # Further levels: one and two business days after the due instant.
    assert scan(app, "2026-11-25T10:14") == 0
    assert scan(app, "2026-11-25T10:15") == 1
    assert scan(app, "2026-11-26T10:15") == 1
    assert scan(app, "2026-11-30T10:15") == 0
    assert [k for k, _ in notices(app)] == ["warning", "warning", "escalation", "escalation",
                                           "escalation"]
    with app.db.transaction() as s:
        events = [e.kind for e in s.scalars(select(Event).where(Event.kind.like("sla_%")))]
    assert events == ["sla_warning", "sla_escalation", "sla_escalation", "sla_escalation"]
    # The report counts the escalation mails sent in its period (warnings are not).
    from mailticket import report

    def escalations(since: str, until: str) -> int:
        with app.db.read() as s:
            got = report.build(s, app.config, since=at(since), until=at(until),
                               now=at("2026-11-30T12:00"))
        return got["departments"][0]["escalations"]

    assert escalations("2026-11-23T00:00", "2026-11-30T00:00") == 3
    assert escalations("2026-11-24T10:16", "2026-11-26T10:15") == 1
    assert escalations("2026-11-23T00:00", "2026-11-24T10:15") == 0


def test_escalation_mail_says_who_what_how_late_and_how_to_take_it(app):
    app.ingest(customer_mail(), department="support", source="test")
    scan(app, "2026-11-24T13:45")  # 3 h 30 min late: only the breach notice goes out
    assert [k for k, _ in notices(app)] == ["escalation"]
    with app.db.transaction() as s:
        raw = s.scalars(select(Message.raw).where(Message.kind == "escalation")).one()
    text = raw.decode()
    assert "Subject: Overdue: [Support #1] Printer on fire" in text
    assert "Jane <jane@customer.example>" in text
    assert "My printer is on fire" in text
    assert "3 hours 30 minutes late" in text
    assert "#assign me" in text
    assert "Reply-To: support+1-" in text


def test_an_answer_stops_the_clock_and_no_notice_follows(app):
    app.ingest(customer_mail(), department="support", source="test")
    from mailticket import actions

    app.clock.at = at("2026-11-23T12:00")
    with app.db.transaction() as s, writing(s) as ws:
        actions.set_state(ws, 1, "pending", app.clock.now())
    assert scan(app, "2026-11-30T10:00") == 0
    assert notices(app) == []


def test_restart_does_not_repeat_notices(app, tmp_path):
    app.ingest(customer_mail(), department="support", source="test")
    scan(app, "2026-11-23T16:20")
    again = App(app.config, FixedClock(at("2026-11-23T16:25")))
    assert again.escalator.run(again.clock.now()) == 0
    again.clock.at = at("2026-11-24T10:20")
    assert again.escalator.run(again.clock.now()) == 1
    assert app.escalator.run(again.clock.now()) == 0
    assert [k for k, _ in notices(app)] == ["warning", "warning", "escalation"]
    again.close()


def test_new_customer_message_after_an_answer_starts_a_new_clock(app):
    app.ingest(customer_mail(), department="support", source="test")
    from mailticket import actions

    app.clock.at = at("2026-11-23T12:00")
    with app.db.transaction() as s, writing(s) as ws:
        actions.set_state(ws, 1, "pending", app.clock.now())
    app.clock.at = at("2026-11-24T15:00")
    follow = customer_mail("Re: [Support #1] Printer on fire").replace(
        b"Subject:", b"In-Reply-To: <Printer.on.fire@customer.example>\r\nSubject:", 1)
    assert app.ingest(follow, department="support", source="test").action == "follow_up"
    with app.db.transaction() as s:
        t = s.get(Ticket, 1)
        assert (t.state, t.due_at) == ("open", at("2026-11-25T15:00"))
    assert scan(app, "2026-11-25T15:00") == 1
    assert [k for k, _ in notices(app)] == ["escalation"]


def test_cli_sla_at_a_future_instant_and_overdue_listings(app, tmp_path):
    import json

    from click.testing import CliRunner

    from mailticket.cli import main

    app.ingest(customer_mail("Printer on fire"), department="support", source="test")
    app.clock.at = at("2026-11-02T10:00")  # three weeks ago: long overdue by now
    app.ingest(customer_mail("Old question"), department="support", source="test")
    cfg = tmp_path / "c.toml"
    cfg.write_text(config(tmp_path))

    def run(*args):
        r = CliRunner().invoke(main, ["--config", str(cfg), *args])
        assert r.exit_code == 0, r.output
        return json.loads(r.output)

    def refs(rows):
        return [(r["id"], r["sla"]) for r in rows]

    assert refs(run("sla", "--at", "2026-11-23T16:00+01:00", "--json")) == [(2, "breached")]
    # Most urgent first.
    assert refs(run("sla", "--at", "2026-11-23T16:30+01:00", "--json")) == [
        (2, "breached"), (1, "at_risk")]
    assert refs(run("sla", "--at", "2026-11-24T10:15", "--json")) == [
        (2, "breached"), (1, "breached")]
    # "now" is the real clock: ticket 2 (due 3 November) is overdue whatever day it is.
    assert 2 in [r["id"] for r in run("tickets", "--overdue", "--json")]
    status = run("status", "--json")
    assert status["departments"][0]["breached"] >= 1
