"""`customer show` and `customer export`: one person's tickets, mails and files, and
nobody else's (in process, outgoing mail into a maildir)."""

from __future__ import annotations

import json
import mailbox
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text as text_sql

from mailticket.app import App
from mailticket.cli import main
from mailticket.clock import FixedClock
from mailticket.config import parse_config
from mailticket.customers.export import export
from mailticket.customers.show import summary
from tests.builders import ONE_DAY, PARIS_OFFICE, config_toml, department, maildir, sqlite
from tests.conftest import mail, reply

MONDAY = datetime(2026, 11, 23, 9, 15, tzinfo=UTC)
DOMAIN = "desk.example"
ANN = f"ann@{DOMAIN}"
BJORN = f"bjorn@{DOMAIN}"
KIM = f"kim@{DOMAIN}"
ANN_PHRASE = "The purple walrus printer is smouldering again, smörgåsbord style."
ANN_SHARED = "I agree about the heron, my lemon kite flies too."
BJORN_PHRASE = "The green heron sings at dawn, naturligtvis."
ANN_FILE = b"%PDF-ANN-" + os.urandom(900)
BJORN_FILE = b"BJORN-ATTACHMENT-" * 40


def at(local: str) -> str:
    return f"{local}@{DOMAIN}"


def with_file(m: EmailMessage, data: bytes, name: str) -> EmailMessage:
    m.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return m


@dataclass
class Desk:
    app: App
    sent: Path
    ann_mails: list[bytes]
    bjorn_mails: list[bytes]

    def receive(self, m: EmailMessage) -> bytes:
        raw = bytes(m)
        self.app.ingest(raw, department="support", source="test")
        while self.app.outbox.deliver().sent:
            pass
        return raw

    def notifications(self) -> list[EmailMessage]:
        from email import message_from_bytes, policy

        box = mailbox.Maildir(self.sent, create=True)
        raws = [box.get_bytes(k) for k in box.iterkeys()]
        return [message_from_bytes(r, policy=policy.default) for r in raws  # type: ignore[misc]
                if b"X-Mailticket-Envelope-To: alice@" in r]


def build_desk(tmp_path: Path, db_url: str | None = None, extra: str = "",
               **support: object) -> Desk:
    """Ann's ticket 1 (Cc: Kim, a file, Alice's answer); Björn's ticket 2 (a file), on
    which Ann writes too."""
    text = config_toml(
        database={"url": db_url} if db_url else sqlite(tmp_path), outgoing=maildir(tmp_path),
        calendar=PARIS_OFFICE, sla=ONE_DAY, extra=extra,
        departments=[department("support", DOMAIN, display_name="Example Support",
                                agents=["alice"], escalate_to=["lead"], **support)])
    app = App(parse_config(text, str(tmp_path / "c.toml")), FixedClock(MONDAY))
    app.ensure_schema()
    app.unlock()  # [storage] encryption_key_env, when ``extra`` sets it
    d = Desk(app, tmp_path / "sent", [], [])
    d.ann_mails.append(d.receive(with_file(mail(
        f"Ann Ærlig-Smith <{ANN}>", at("support"), "Walrus printer trouble",
        f"Hello,\n{ANN_PHRASE}\nAnn", cc=[KIM]), ANN_FILE, "ann-scan.pdf")))
    bjorn = with_file(mail(f"Björn Other <{BJORN}>", at("support"), "Heron question",
                           f"Hi,\n{BJORN_PHRASE}\nBjörn"), BJORN_FILE, "bjorn.txt")
    d.bjorn_mails.append(d.receive(bjorn))
    d.ann_mails.append(d.receive(mail(
        f"Ann Ærlig-Smith <{ANN}>", at("support"), "Re: Heron question",
        f"Hello Björn,\n{ANN_SHARED}\n", in_reply_to=str(bjorn["Message-ID"]))))
    note = next(n for n in d.notifications() if "Walrus" in str(n["Subject"]))
    d.receive(reply(note, at("alice"), "We will send a new printer on Tuesday.\n"))
    return d


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    d = build_desk(tmp_path)
    yield d
    d.app.close()


def test_show_lists_their_tickets_counts_language_and_contacts(desk):
    with desk.app.db.read() as s:
        got = summary(s, desk.app.config, "Ann@Desk.Example")
        assert summary(s, desk.app.config, "nobody@desk.example") is None
    assert got is not None
    assert [(t["id"], t["role"]) for t in got["tickets"]] == [(1, "customer"), (2, "cc")]
    mine = got["tickets"][0]
    assert mine["subject"] == "Walrus printer trouble"
    # Her mail in, and out: the auto-response and Alice's answer.
    assert (mine["messages_in"], mine["messages_out"]) == (1, 2)
    assert got["tickets"][1]["messages_in"] == 1
    assert got["tickets"][1]["subject"] == ""  # Björn's subject is Björn's
    assert got["language"] == "en"
    assert got["names"] == ["Ann Ærlig-Smith"]
    assert got["first_contact"] is not None and got["last_contact"] >= got["first_contact"]



def test_show_counts_only_what_they_wrote_and_what_was_sent_to_them(desk):
    """Kim was only Cc'd on Ann's mail: Ann's mail is not Kim's, and neither is the
    answer Alice mailed in; what was sent to Kim is."""
    with desk.app.db.read() as s:
        got = summary(s, desk.app.config, KIM)
        row = s.execute(text_sql(
            "SELECT count(*) FROM messages WHERE direction = 'out' AND ticket_id = 1 "
            "AND (\"to\" LIKE :kim OR cc LIKE :kim)"), {"kim": f'%"{KIM}"%'}).scalar()
    assert got is not None
    assert [(t["id"], t["role"]) for t in got["tickets"]] == [(1, "cc")]
    assert got["tickets"][0]["messages_in"] == 0
    assert got["messages_in"] == 0
    assert row and got["tickets"][0]["messages_out"] == row

def test_export_holds_her_mails_files_and_tickets_and_nobody_elses(desk, tmp_path):
    out = tmp_path / "export"
    with desk.app.db.read() as s:
        got = export(s, desk.app.config, ANN, out, MONDAY, "Example Support")
    assert (got["tickets"], got["attachments"]) == (2, 1)
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert {"README.txt", "mail.mbox", "tickets/1.json", "tickets/2.json"} <= files
    emls = sorted(p.read_bytes() for p in (out / "mail").glob("*.eml"))
    # Her two mails byte-exact, the auto-response and Alice's answer to her.
    for raw in desk.ann_mails:
        assert raw in emls
    assert len(emls) == got["mails"] == 4
    assert [p.read_bytes() for p in (out / "attachments").iterdir()] == [ANN_FILE]
    assert len(mailbox.mbox(str(out / "mail.mbox"))) == 4

    everything = b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())
    for other in (BJORN.encode(), BJORN_PHRASE.encode(), BJORN_FILE[:40],
                  "Björn Other".encode()):
        assert other not in everything, other
    # Kim, Cc'd by Ann, is in Ann's own mails as she wrote them, never in our JSON.
    assert not any(KIM in p.read_text() for p in (out / "tickets").iterdir())
    shared = json.loads((out / "tickets/2.json").read_text())
    assert shared["customer"] == "redacted@redacted.invalid"
    assert [m["text"].strip() for m in shared["messages"]] == [f"Hello Björn,\n{ANN_SHARED}"]
    mine = json.loads((out / "tickets/1.json").read_text())
    assert {p["address"] for p in mine["participants"]} >= {ANN, "redacted@redacted.invalid"}
    assert any(e["kind"] == "created" for e in mine["events"])
    assert "Your data held by Example Support" in (out / "README.txt").read_text()


def test_export_readme_is_in_the_customers_language(desk, tmp_path):
    from mailticket.customers.readme import LANGUAGES, readme

    assert set(LANGUAGES) == {"en", "fr", "sv", "es", "de", "bg"}
    texts = {lang: readme(lang, company="C", address="a@b", redacted="r", date="d",
                          tickets=1, mails=2, files=3) for lang in LANGUAGES}
    assert len(set(texts.values())) == 6
    assert all("mail.mbox" in t and "attachments/" in t for t in texts.values())
    assert texts["bg"].startswith("Вашите данни")


def test_cli_show_and_export_exit_codes(desk, tmp_path):
    runner = CliRunner()
    env = {"MAILTICKET_CONFIG": _config_file(desk, tmp_path)}
    r = runner.invoke(main, ["customer", "show", ANN, "--json"], env=env)
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["address"] == ANN
    assert runner.invoke(main, ["customer", "show", "nobody@x.example"], env=env).exit_code == 1
    r = runner.invoke(main, ["customer", "show", "not-an-address"], env=env)
    assert r.exit_code == 2 and "ADDRESS" in r.output
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("x")
    r = runner.invoke(main, ["customer", "export", ANN, "--out", str(full)], env=env)
    assert r.exit_code == 2 and "--out" in r.output
    r = runner.invoke(main, ["customer", "export", ANN, "--out", str(tmp_path / "e"), "--json"],
                      env=env)
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["mails"] == 4


def _config_file(desk: Desk, tmp_path: Path) -> str:
    path = tmp_path / "cli.toml"
    path.write_text(config_toml(
        database={"url": desk.app.config.database.url}, outgoing=maildir(tmp_path),
        calendar=PARIS_OFFICE, sla=ONE_DAY,
        departments=[department("support", DOMAIN, display_name="Example Support",
                                agents=["alice"], escalate_to=["lead"])]))
    return str(path)
