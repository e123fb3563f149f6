"""`mailticket import`: a mailbox's history as tickets and answers at their times, whose
report figures match a count made by hand; nothing is ever sent."""

from __future__ import annotations

import json
import mailbox
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from mailticket import importer
from mailticket.app import App
from mailticket.cli import main
from mailticket.clock import FixedClock
from mailticket.config import parse_config
from mailticket.importer import Importer, arrival
from mailticket.store.models import Event, FeedbackRequest, Message, OutboxItem, Ticket
from tests.builders import PARIS_OFFICE, config_toml, department, mail, maildir, sqlite

DOMAIN = "desk.example"
SUPPORT = f"support@{DOMAIN}"
ALICE = f"alice@{DOMAIN}"
H = 3600


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def stamp(m: EmailMessage, at: datetime, date: datetime | None = None) -> EmailMessage:
    """``at`` as the mailbox server's (topmost) Received; an older relay's below it."""
    del m["Date"]
    m["Date"] = format_datetime(date or at)
    m["Received"] = f"from mx.{DOMAIN} by imap.{DOMAIN}; {format_datetime(at)}"
    m["Received"] = f"from client by mx.relay.example; {format_datetime(at - timedelta(hours=5))}"
    return m


def customer(who: str, subject: str, at: datetime, **kw) -> EmailMessage:
    return stamp(mail(f"{who}@client.example", SUPPORT, subject, f"Hello, {subject}."), at, **kw)


def answer(to: EmailMessage, sender: str, at: datetime) -> EmailMessage:
    m = mail(sender, str(to["From"]), f"Re: {to['Subject']}", "Here is the answer.",
             in_reply_to=str(to["Message-ID"]))
    return stamp(m, at)


def history() -> tuple[list[EmailMessage], list[EmailMessage]]:
    """INBOX and Sent of a Paris office (Mon–Fri 09:00–17:00, French holidays), promise
    4 business hours. Local times in the comments; instants in UTC."""
    # T1 Mon 9 Nov 10:00 (its Date says 09:00: the client's clock is off; Received wins).
    t1 = customer("ann", "Printer", utc(2026, 11, 9, 9, 0), date=utc(2026, 11, 9, 8, 0))
    a1 = answer(t1, ALICE, utc(2026, 11, 9, 10, 30))                 # 11:30: in time
    f1 = stamp(mail("ann@client.example", SUPPORT, "Re: Printer", "Still broken.",
                    in_reply_to=str(a1["Message-ID"])), utc(2026, 11, 9, 11, 0))  # 12:00
    a1b = answer(f1, ALICE, utc(2026, 11, 9, 14, 0))                 # 15:00: due 16:00
    # T2 Tue 10 Nov 16:00; Wed 11 Nov is a holiday: due Thu 12:00, answered Thu 11:00.
    t2 = customer("bo", "Invoice", utc(2026, 11, 10, 15, 0))
    a2 = answer(t2, SUPPORT, utc(2026, 11, 12, 10, 0))
    # T3 Fri 13 Nov 18:30 (evening): due Mon 16 Nov 13:00, answered 14:00: late.
    t3 = customer("cy", "Refund", utc(2026, 11, 13, 17, 30))
    a3 = answer(t3, ALICE, utc(2026, 11, 16, 13, 0))
    # T4 Sat 24 Oct 12:00 CEST; clocks go back that night: due Mon 26 Oct 13:00 CET
    # (12:00 UTC), answered 09:30 CET (08:30 UTC): in time.
    t4 = customer("di", "Login", utc(2026, 10, 24, 10, 0))
    a4 = answer(t4, ALICE, utc(2026, 10, 26, 8, 30))
    # T5 Thu 19 Nov 09:00, never answered: due 13:00, past due.
    t5 = customer("ed", "Password", utc(2026, 11, 19, 8, 0))
    # Alice's own mail to nobody we know, answering nothing: skipped.
    lone = stamp(mail(ALICE, "someone@else.example", "Hi", "Lunch?"), utc(2026, 11, 18, 11, 0))
    return [t1, f1, t2, t3, t4, t5], [a1, a1b, a2, a3, a4, lone]


def write_mbox(path: Path, mails: list[EmailMessage]) -> Path:
    box = mailbox.mbox(path)
    for m in mails:
        box.add(bytes(m))
    box.close()
    return path


def write_maildir(path: Path, mails: list[EmailMessage]) -> Path:
    box = mailbox.Maildir(path)
    for m in mails:
        box.add(bytes(m))
    box.close()
    return path


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path, Path, Path]:
    config = tmp_path / "c.toml"
    config.write_text(config_toml(
        database=sqlite(tmp_path), outgoing=maildir(tmp_path), calendar=PARIS_OFFICE,
        sla={"response": "4 business hours"},
        departments=[department("support", DOMAIN, agents=["alice"])]))
    inbox, sent = history()
    return (config, write_mbox(tmp_path / "inbox.mbox", inbox),
            write_maildir(tmp_path / "Sent", sent), tmp_path / "sent")


def cli(config: Path, *args: str) -> dict:
    r = CliRunner().invoke(main, ["--config", str(config), *args, "--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


def test_arrival_is_the_topmost_received_else_the_date():
    assert arrival(["by a; Mon, 9 Nov 2026 10:00:00 +0100", "by b; Mon, 9 Nov 2026 04:00 +0100"],
                   "Mon, 9 Nov 2026 08:00:00 +0000") == utc(2026, 11, 9, 9, 0)
    assert arrival([], "Mon, 9 Nov 2026 08:00:00 +0000") == utc(2026, 11, 9, 8, 0)
    assert arrival(["by a with no date"], "Mon, 9 Nov 2026 08:00:00 +0000") == utc(
        2026, 11, 9, 8, 0)
    assert arrival([], None) is None and arrival([], "yesterday") is None


@pytest.mark.parametrize("chunk", [500, 3], ids=["one-chunk", "workers"])
def test_imported_history_gives_the_report_counted_by_hand(setup, monkeypatch, chunk):
    # Chunks of 3 make the import prepare mails in worker processes, as a large one does.
    monkeypatch.setattr(importer, "CHUNK", chunk)
    config, inbox, sent, outgoing = setup
    got = cli(config, "import", "--department", "support", "--closed-after", "100000",
              str(inbox), str(sent))
    assert got == {"mails": 12, "tickets": 5, "messages": 11, "answers": 5, "closed": 0,
                   "skipped": 1,
                   "skipped_reasons": {"staff mail answering no imported mail": 1}}
    # The import summed the history's finished days: the report below reads them.
    from sqlalchemy import create_engine, text

    from tests.builders import sqlite
    engine = create_engine(sqlite(config.parent)["url"])
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM report_days")).scalar() == 5
    engine.dispose()
    [report] = cli(config, "report", "--since", "2026-10-01", "--until", "2026-12-01")[
        "departments"]
    # Counted by hand from the comments of history(): T1 and its follow-up, T2 and T4 in
    # time; T3 late; T5 past due and never answered.
    assert report["tickets"] == 5
    assert report["customer_messages"] == 6
    assert (report["answered_in_time"], report["answered_late"],
            report["unanswered_overdue"]) == (4, 1, 1)
    # First responses of the five tickets, business time: T1 1.5 h, T2 1 h + 2 h
    # (the holiday skipped), T3 5 h (Monday 09:00–14:00), T4 0.5 h; T5 none.
    # Median of [0.5, 1.5, 3, 5] h = 2.25 h; p90 (nearest rank) 5 h.
    assert report["first_response_business_seconds"] == {"median": 2.25 * H, "p90": 5.0 * H}
    # Wall clock: T1 1.5 h, T2 43 h, T3 67.5 h, T4 46.5 h (a 25-hour Sunday); median of
    # [1.5, 43, 46.5, 67.5] h = 44.75 h.
    assert report["first_response_wall_seconds"] == {"median": 44.75 * H, "p90": 67.5 * H}
    assert {a["agent"]: a["answers"] for a in report["agents"]} == {ALICE: 4, SUPPORT: 1}
    # Arrivals by local day: the DST Saturday and each November day.
    assert report["by_day"] == {"2026-10-24": 1, "2026-11-09": 2, "2026-11-10": 1,
                                "2026-11-13": 1, "2026-11-19": 1}


def test_importing_twice_adds_nothing_and_nothing_is_ever_sent(setup, tmp_path):
    config, inbox, sent, outgoing = setup
    cli(config, "import", "-d", "support", str(inbox), str(sent))
    again = cli(config, "import", "-d", "support", str(sent), str(inbox))
    assert (again["tickets"], again["messages"], again["answers"]) == (0, 0, 0)
    assert again["skipped_reasons"]["already imported (Message-ID stored)"] == 11
    app = App(parse_config(config.read_text(), str(config)))
    with app.db.read() as s:
        assert s.scalar(select(func.count()).select_from(Ticket)) == 5
        assert s.scalar(select(func.count()).select_from(Message)) == 11
        assert s.scalar(select(func.count()).select_from(OutboxItem)) == 0
        assert s.scalar(select(func.count()).select_from(Message).where(
            Message.direction == "out")) == 0
        kinds = set(s.scalars(select(Event.kind)))
    app.close()
    assert "auto_response_suppressed" not in kinds
    # The outgoing maildir (where any mail would have gone) stays empty.
    assert not outgoing.exists() or not list(mailbox.Maildir(outgoing).keys())


def test_tickets_quiet_for_longer_than_the_cutoff_come_in_closed(setup):
    config, inbox, sent, _ = setup
    now = utc(2026, 12, 2, 12, 0)
    app = App(parse_config(config.read_text(), str(config)), FixedClock(now))
    app.ensure_schema()
    summary = Importer(app, "support", timedelta(days=14)).run([str(inbox), str(sent)])
    # Last messages: T1 9 Nov, T2 12 Nov, T3 16 Nov, T4 26 Oct before 18 Nov; T5 19 Nov not.
    assert summary.closed == 4
    with app.db.read() as s:
        states = dict(s.execute(select(Ticket.customer, Ticket.state)).all())
        closes = dict(s.execute(select(Ticket.customer, Event.at).join(
            Event, Event.ticket_id == Ticket.id).where(Event.kind == "state_changed",
                                                       Event.detail["new"].as_string()
                                                       == "closed")).all())
        # Closing history arms no "how did we do?" question.
        assert s.scalar(select(func.count()).select_from(FeedbackRequest)) == 0
    app.close()
    assert states == {"ann@client.example": "closed", "bo@client.example": "closed",
                      "cy@client.example": "closed", "di@client.example": "closed",
                      "ed@client.example": "new"}
    # Closed as of the cutoff after the last message, not as of the import.
    assert closes["di@client.example"].replace(tzinfo=UTC) == utc(2026, 11, 9, 8, 30)


def test_a_path_that_is_no_mailbox_is_refused(setup, tmp_path):
    config, *_ = setup
    (tmp_path / "notes.txt").write_text("hello\n")
    (tmp_path / "folder").mkdir()
    for bad in ("notes.txt", "folder", "missing"):
        r = CliRunner().invoke(main, ["--config", str(config), "import", "-d", "support",
                                      str(tmp_path / bad)])
        assert r.exit_code == 2, r.output
        assert "PATH" in r.output
    r = CliRunner().invoke(main, ["--config", str(config), "import", "-d", "sales",
                                  str(tmp_path / "inbox.mbox")])
    assert r.exit_code == 2 and "--department" in r.output


@pytest.mark.parametrize("text", [
    b"", b"From a\n", b"From a\nx\n\nFrom b\ny\n", b"junk\nFrom a\nx\nFrom b\n\n",
    b"From a\n\n\nFrom b\nFrom c\n\n\n", b"\nFrom a\nb", b"\n\nFrom a\n\n",
    b"From a\r\nSubject: x\r\n\r\nFrom the start\r\n\nFrom b\nFrom: c\n\nbody\nFrom\n"])
def test_an_mbox_is_cut_into_mails_where_the_standard_library_cuts_it(tmp_path, text):
    path = tmp_path / "box"
    path.write_bytes(text)
    ours = importer._Mbox(path, create=False)  # noqa: SLF001 - what open_mailbox opens
    std = mailbox.mbox(path, create=False)
    assert [ours.get_bytes(k) for k in ours.iterkeys()] == [
        std.get_bytes(k) for k in std.iterkeys()]
    assert all(std.get_bytes(k).startswith(ours.head(k)) for k in std.iterkeys())
