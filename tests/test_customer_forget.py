"""`customer forget`: the person is gone from every table and from the database files,
reports are unchanged, another customer is intact, and a later mail starts afresh."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text

from mailticket.cli import main
from mailticket.customers.forget import forget
from mailticket.store.models import Event, Participant, Ticket
from tests.conftest import mail
from tests.test_customer_export import (
    ANN,
    ANN_FILE,
    ANN_PHRASE,
    ANN_SHARED,
    BJORN,
    BJORN_FILE,
    BJORN_PHRASE,
    MONDAY,
    _config_file,
    at,
    build_desk,
)

ANN_NAME = "Ann Ærlig-Smith"


def distinctive_lines(raw: bytes) -> list[bytes]:
    """Lines of a mail as stored that only this mail has: its body as encoded (base64,
    quoted-printable), its files' base64, its Message-ID (not the ids it answers)."""
    generic = re.compile(
        rb"^(Content-|MIME-Version|--=+|Date:|To:|Subject:|In-Reply-To:|References:)")
    return [line for line in raw.splitlines()
            if len(line) >= 24 and not generic.match(line)]


def ann_traces(raws: list[bytes]) -> list[bytes]:
    out = [ANN.encode(), ANN_NAME.encode(), ANN_PHRASE.encode(), ANN_SHARED.encode(),
           ANN_FILE[9:60], base64.b64encode(ANN_FILE)[:60], b"Ann \xc3\x86rlig"]
    for raw in raws:
        out += distinctive_lines(raw)
    return out


def sqlite_bytes(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm"))
                    if p.exists())


def report(desk) -> dict:
    from mailticket import report as reports

    with desk.app.db.read() as s:
        return reports.build(s, desk.app.config, since=MONDAY.replace(day=1),
                             until=MONDAY.replace(day=28), now=MONDAY)


def test_forget_leaves_no_byte_of_her_in_the_sqlite_files(tmp_path):
    desk = build_desk(tmp_path)
    db = tmp_path / "x.db"
    before = report(desk)
    assert all(t in sqlite_bytes(db) for t in (ANN.encode(), BJORN_PHRASE.encode()))

    got = forget(desk.app.db, desk.app.config, ANN, MONDAY)

    assert (got["tickets"], got["shared"]) == ([1], [2])
    files = sqlite_bytes(db)
    for trace in ann_traces(desk.ann_mails):
        assert trace not in files, trace
    # Björn, his mail and his file are intact.
    for raw in desk.bjorn_mails:
        with desk.app.db.read() as s:
            assert s.scalar(text("SELECT count(*) FROM messages WHERE raw = :r"), {"r": raw}) == 1
    assert BJORN_PHRASE.encode() in files and base64.b64encode(BJORN_FILE)[:60] in files
    assert report(desk) == before
    desk.app.close()


def test_forget_keeps_numbers_times_agents_under_a_pseudonym(tmp_path):
    desk = build_desk(tmp_path)
    with desk.app.db.read() as s:
        was = s.get(Ticket, 1)
        created, dept = was.created_at, was.department
    got = forget(desk.app.db, desk.app.config, ANN, MONDAY)
    with desk.app.db.read() as s:
        t = s.get(Ticket, 1)
        assert (t.id, t.created_at, t.department) == (1, created, dept)
        assert t.customer == got["pseudonym"] and t.subject == "" and t.customer_name == ""
        kinds = [(m.direction, m.kind, m.from_addr) for m in t.messages]
        assert ("in", "agent", at("alice")) in kinds  # agents stay for the report
        assert all(m.text == "" and m.raw == b"" for m in t.messages)
        assert ANN not in {p.address for p in s.scalars(select(Participant))}
        forgotten = s.scalars(select(Event).where(Event.kind == "customer_forgotten")).one()
        assert ANN not in json.dumps(forgotten.detail) and forgotten.ticket_id is None
        # Björn's ticket keeps his own mail and subject.
        assert s.get(Ticket, 2).subject == "Heron question"
    desk.app.close()


def test_a_new_mail_after_forget_starts_a_new_ticket(tmp_path):
    desk = build_desk(tmp_path)
    with desk.app.db.read() as s:
        old_ids = [m.message_id for m in s.get(Ticket, 1).messages]
    forget(desk.app.db, desk.app.config, ANN, MONDAY)
    # She answers her old auto-response (token address, References) with the old tag.
    token = next(r for r in _sent_to(desk, ANN) if "auto" in r.get("Auto-Submitted", ""))
    desk.receive(mail(f"{ANN_NAME} <{ANN}>", str(token["Reply-To"]),
                      "Re: [Support #1] Walrus printer trouble", "Any news?",
                      in_reply_to=old_ids[0], references=" ".join(old_ids)))
    with desk.app.db.read() as s:
        fresh = s.scalars(select(Ticket).where(Ticket.customer == ANN)).one()
        assert fresh.id != 1
        assert len(s.get(Ticket, 1).messages) == len(old_ids)  # nothing threaded into it
    desk.app.close()


def _sent_to(desk, address):
    import mailbox
    from email import message_from_bytes, policy

    box = mailbox.Maildir(desk.sent, create=True)
    raws = [box.get_bytes(k) for k in box.iterkeys()]
    return [message_from_bytes(r, policy=policy.default) for r in raws
            if f"X-Mailticket-Envelope-To: {address}".encode() in r]


def test_forget_on_postgresql_checked_through_sql(tmp_path, pg_url):
    desk = build_desk(tmp_path, pg_url)
    before = report(desk)
    forget(desk.app.db, desk.app.config, ANN, MONDAY)
    tables = ["tickets", "messages", "participants", "events", "outbox", "contacts",
              "quarantine", "feedback"]
    with desk.app.db.read() as s:
        dump = "\n".join(str(row[0]) for t in tables
                         for row in s.execute(text(f"SELECT x::text FROM {t} x")))
        bjorn = s.execute(text("SELECT count(*) FROM messages WHERE raw = :r"),
                          {"r": desk.bjorn_mails[0]}).scalar()
    for trace in (ANN, ANN_NAME, ANN_PHRASE, ANN_SHARED):
        assert trace not in dump
    for trace in ann_traces(desk.ann_mails):  # raw columns show as \x hex in row text
        assert trace.hex() not in dump
    assert BJORN in dump and bjorn == 1
    assert report(desk) == before
    desk.app.close()


def test_cli_forget_asks_on_a_terminal_and_refuses_without_one(tmp_path):
    desk = build_desk(tmp_path)
    env = {"MAILTICKET_CONFIG": _config_file(desk, tmp_path)}
    runner = CliRunner()
    r = runner.invoke(main, ["customer", "forget", at("alice"), "--yes"], env=env)
    assert r.exit_code == 2 and "not a customer" in r.output
    r = runner.invoke(main, ["customer", "forget", ANN], env=env)  # stdin is not a tty
    assert r.exit_code == 2 and "--yes" in r.output
    r = runner.invoke(main, ["customer", "forget", ANN, "--yes", "--json"], env=env)
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["tickets"] == [1]
    with desk.app.db.read() as s:
        assert s.scalars(select(Ticket).where(Ticket.customer == ANN)).first() is None
    desk.app.close()


@pytest.mark.parametrize("answer,kept", [("n\n", True), ("y\n", False)])
def test_cli_forget_confirmation(tmp_path, monkeypatch, answer, kept):
    desk = build_desk(tmp_path)
    env = {"MAILTICKET_CONFIG": _config_file(desk, tmp_path)}
    monkeypatch.setattr("mailticket.commands.customer.on_terminal", lambda: True)
    r = CliRunner().invoke(main, ["customer", "forget", ANN], env=env, input=answer)
    assert "cannot be undone" in r.output
    with desk.app.db.read() as s:
        assert (s.get(Ticket, 1).customer == ANN) is kept
    desk.app.close()


def test_forget_while_the_daemon_runs_then_stopped(make_world, tmp_path):
    """Real Dovecot, SMTP relay and daemon process: `customer forget` run beside it
    waits for SQLite's lock, and the files hold nothing of her, running and stopped."""
    import subprocess
    import sys

    from tests.conftest import cli_json, start_daemon, stop_daemon
    from tests.test_customer_export import with_file

    w = make_world()
    ann, bjorn = w.addr("ann"), w.addr("bjorn")
    db = Path(w.config.database.url.removeprefix("sqlite:///"))
    ann_mail = with_file(mail(f"{ANN_NAME} <{ann}>", w.addr("support"), "Walrus printer trouble",
                              f"Hello,\n{ANN_PHRASE}\nAnn"), ANN_FILE, "ann-scan.pdf")
    bjorn_mail = with_file(mail(f"Björn Other <{bjorn}>", w.addr("support"), "Heron question",
                                f"Hi,\n{BJORN_PHRASE}\n"), BJORN_FILE, "bjorn.txt")
    period = ["--since", "2020-01-01", "--until", "2030-01-01"]
    with open(tmp_path / "daemon.log", "wb") as log:
        proc = start_daemon(w, log)
        try:
            w.deliver("support", ann_mail)
            w.deliver("support", bjorn_mail)
            w.wait_inbox("ann", 1, timeout=30)
            w.wait_inbox("bjorn", 1, timeout=30)
            w.wait_inbox("alice", 2, timeout=30)
            before = cli_json(w, "report", *period)
            assert ann.encode() in sqlite_bytes(db)

            done = subprocess.run(
                [sys.executable, "-m", "mailticket", "--config", str(w.config_path),
                 "customer", "forget", ann, "--yes", "--json"],
                capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, done.stderr
            assert json.loads(done.stdout)["tickets"] == [1]
            running = sqlite_bytes(db)
            assert cli_json(w, "report", *period) == before
        finally:
            stop_daemon(proc)
    stopped = sqlite_bytes(db)
    traces = [ann.encode(), *ann_traces([bytes(ann_mail)])]
    for files in (running, stopped):
        for trace in traces:
            assert trace not in files, trace
        assert BJORN_PHRASE.encode() in files and bjorn.encode() in files
        assert base64.b64encode(BJORN_FILE)[:60] in files


def test_mail_still_waiting_for_her_is_never_sent(tmp_path):
    desk = build_desk(tmp_path)
    # A second mail from her, stored with its auto-response queued but not yet sent.
    desk.app.ingest(bytes(mail(f"{ANN_NAME} <{ANN}>", at("support"), "Another walrus",
                               f"{ANN_PHRASE} Twice.")), department="support", source="test")
    sent_before = len(_sent_to(desk, ""))  # every mail sent, to anyone
    got = forget(desk.app.db, desk.app.config, ANN, MONDAY)
    assert got["erased"]["outbox_cancelled"] >= 1
    while desk.app.outbox.deliver().sent:
        pass
    assert len(_sent_to(desk, "")) == sent_before
    with desk.app.db.read() as s:
        reasons = s.execute(text("SELECT last_error FROM outbox WHERE sent_at IS NULL")).all()
    assert reasons and all(r[0] == "erased before it was sent" for r in reasons)
    desk.app.close()


def test_her_feedback_comment_goes_and_the_grade_stays(tmp_path):
    from mailticket.store.models import FeedbackRequest

    desk = build_desk(tmp_path)
    with desk.app.db.transaction() as s:
        s.add(FeedbackRequest(ticket_id=1, state="answered", closed_at=MONDAY,
                              answered_at=MONDAY, grade=2, comment=ANN_PHRASE))
    forget(desk.app.db, desk.app.config, ANN, MONDAY)
    with desk.app.db.read() as s:
        row = s.scalars(select(FeedbackRequest)).one()
        assert (row.grade, row.comment, row.state) == (2, None, "answered")
    desk.app.close()


def test_forget_takes_her_out_of_search_candidates_and_faq_drafts(tmp_path):
    from mailticket.faq.entries import add
    from mailticket.faq.exchange import NewEntry
    from mailticket.store.models import FaqEntry, Question

    desk = build_desk(tmp_path)
    config = _config_file(desk, tmp_path)

    def hits(word: str) -> list[int]:
        r = CliRunner().invoke(main, ["--config", config, "search", word, "--json"])
        assert r.exit_code == 0, r.output
        return [h["ticket"] for h in json.loads(r.output)["hits"]]

    with desk.app.db.transaction() as s:  # an agent's #faq on her ticket, and on Björn's
        add(s, NewEntry("support", "en", ANN_PHRASE, "Unplug it.", "draft"), MONDAY,
            agent=at("alice"), ticket=1)
        add(s, NewEntry("support", "en", BJORN_PHRASE, "Herons do.", "draft"), MONDAY,
            agent=at("alice"), ticket=2)
        add(s, NewEntry("support", "en", ANN_SHARED, "Kites do.", "draft"), MONDAY,
            agent=at("alice"), ticket=2)  # her words on Björn's ticket
    assert hits("walrus") == [1] and 2 in hits("heron")
    forget(desk.app.db, desk.app.config, ANN, MONDAY)
    assert hits("walrus") == [] and hits("smouldering") == [] and hits("lemon") == []
    assert 2 in hits("heron")  # Björn's mail is still found
    with desk.app.db.read() as s:
        assert [e.question for e in s.scalars(select(FaqEntry))] == [BJORN_PHRASE]
        assert 1 not in set(s.scalars(select(Question.ticket_id)))
    desk.app.close()
