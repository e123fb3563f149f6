"""The README, walked as a newcomer walks it: the embedded default config exactly as
shipped, no MAILTICKET_SECRET, every command as a process of its own.

The mail one-liner is taken from README.md itself, so the README cannot drift
from what this test runs.
"""

from __future__ import annotations

import email
import email.message
import json
import os
import re
import shutil
import signal
import smtplib
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from email import policy
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
SHELL_UMASK = 0o022  # a usual login shell's: files readable by every account


class Home:
    """A folder holding only the shipped config.example.toml, as after a clone."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith("MAILTICKET_")}

    def run(self, *args: str, code: int | None = 0,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
        started = time.monotonic()
        r = subprocess.run(
            [sys.executable, "-m", "mailticket", "--config", "config.example.toml", *args],
            cwd=self.path, env=self.env, capture_output=True, text=True, timeout=timeout,
            umask=SHELL_UMASK)
        took = time.monotonic() - started
        if code is not None:
            assert r.returncode == code, (args, r.returncode, r.stdout, r.stderr)
        assert took < 20, f"mailticket {' '.join(args)} took {took:.0f} s"
        return r

    def cli(self, *args: str, code: int | None = 0) -> str:
        """What the admin sees on the terminal: standard output and error."""
        r = self.run(*args, code=code)
        return r.stdout + r.stderr

    def json(self, *args: str, code: int = 0) -> Any:
        return json.loads(self.run(*args, "--json", code=code).stdout)

    def sent(self) -> list[email.message.EmailMessage]:
        folder = self.path / "var" / "sent" / "new"
        files = sorted(folder.iterdir(), key=lambda p: p.stat().st_mtime_ns) \
            if folder.is_dir() else []
        return [email.message_from_bytes(p.read_bytes(), policy=policy.default)
                for p in files]  # type: ignore[misc]

    def wait_sent(self, n: int, timeout: float = 20) -> list[email.message.EmailMessage]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            mails = self.sent()
            if len(mails) >= n:
                return mails
            time.sleep(0.1)
        raise AssertionError(f"{len(self.sent())} mails in var/sent, expected {n}")


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Home]:
    shutil.copy(ROOT / "config.example.toml", tmp_path / "config.example.toml")
    yield Home(tmp_path)


@pytest.fixture
def daemon(home: Home) -> Iterator[subprocess.Popen[bytes]]:
    if _port_open(2525):
        pytest.fail("127.0.0.1:2525 (the shipped listener port) is taken by another program")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mailticket", "--config", "config.example.toml", "run"],
        cwd=home.path, env=home.env, stdout=subprocess.DEVNULL, umask=SHELL_UMASK,
        stderr=open(home.path / "daemon.log", "wb"))  # noqa: SIM115
    deadline = time.monotonic() + 30
    while not _port_open(2525):
        assert proc.poll() is None, (home.path / "daemon.log").read_text()
        assert time.monotonic() < deadline, "the listener never opened 127.0.0.1:2525"
        time.sleep(0.1)
    yield proc
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0, (home.path / "daemon.log").read_text()


def readme_mail_command() -> str:
    """The README's 'send it a mail' one-liner, run with this interpreter."""
    m = re.search(r"^\.venv/bin/python (-c \".*\")$", README, re.M)
    assert m, "README.md no longer shows the mail one-liner"
    return m.group(1)


def send_readme_mail(home: Home) -> None:
    code = readme_mail_command()[len('-c "'):-1]
    subprocess.run([sys.executable, "-c", code], cwd=home.path, check=True, timeout=30)


def modes_open_to_others(folder: Path) -> list[str]:
    return [f"{p.relative_to(folder)} {stat.filemode(p.stat().st_mode)}"
            for p in [folder, *folder.rglob("*")] if p.stat().st_mode & 0o077]


def test_readme_first_hour_on_the_embedded_default(home: Home, daemon) -> None:
    send_readme_mail(home)
    mails = home.wait_sent(3)  # auto-response to Jane, a notification per agent
    to_jane = [m for m in mails if m["To"].addresses[0].addr_spec == "jane@customer.example"]
    assert len(to_jane) == 1 and "[Support #1]" in to_jane[0]["Subject"]

    listing = home.cli("tickets")
    assert "[Support #1]" in listing and "Printer on fire" in listing
    rows = home.json("tickets")
    assert [(r["id"], r["customer"], r["state"]) for r in rows] == [
        (1, "jane@customer.example", "new")]

    # An agent answers with Reply, through the listener: Jane gets only what was typed.
    note = next(m for m in mails if m["To"].addresses[0].addr_spec == "alice@example.com")
    reply = (f"From: Alice <alice@example.com>\r\nTo: {note['Reply-To']}\r\n"
             f"Subject: Re: {note['Subject']}\r\nIn-Reply-To: {note['Message-ID']}\r\n"
             f"Message-ID: <answer-1@example.com>\r\n\r\n"
             "Please unplug it and step away.\r\n\r\n"
             "On Tue, Jane wrote:\r\n> Hello, my printer is on fire.\r\n").encode()
    with smtplib.SMTP("127.0.0.1", 2525) as smtp:
        smtp.sendmail("alice@example.com", [note["Reply-To"].addresses[0].addr_spec], reply)
    answer = next(m for m in home.wait_sent(4)[3:])
    assert answer["To"].addresses[0].addr_spec == "jane@customer.example"
    text = answer.get_body(("plain",)).get_content()
    assert "Please unplug it and step away." in text and "my printer is on fire" not in text
    assert answer["Auto-Submitted"] is None, "a person's answer is not robot mail"

    # The README's command table, each with and without --json where it has one.
    assert "support" in home.cli("status")
    status = home.json("status")
    assert [d["command"] for d in status["daemons"]] == ["run"]
    assert {d["department"] for d in status["departments"]} == {"support", "sales"}
    assert home.json("tickets", "--department", "support", "--state", "pending")[0]["id"] == 1
    assert home.json("tickets", "--overdue") == [] and home.json("tickets", "--at-risk") == []
    unknown = home.cli("tickets", "--department", "nosuch", code=2)
    assert "support" in unknown and "sales" in unknown
    assert "Please unplug it" in home.cli("show", "1")
    kinds = [m["kind"] for m in home.json("show", "1")["messages"]]
    assert kinds[0] == "customer" and "agent" in kinds and "auto_response" in kinds
    assert home.json("sla") == [] and "at " in home.cli("sla")
    late = home.json("sla", "--at", "2099-01-01T12:00+01:00")
    assert late == []  # answered: nothing can be late any more
    assert "configuration OK" in home.cli("check-config")
    assert home.json("check-config", "--offline")["ok"] is True
    assert "revision" in home.cli("db", "upgrade")
    assert home.json("outbox") == [] and "outbox empty" in home.cli("outbox")
    assert "sent 0" in home.cli("outbox", "--retry")
    assert home.json("quarantine") == [] and "quarantine empty" in home.cli("quarantine")
    # no IMAP department in the default: nothing to fetch, exit 0, and it says why
    assert "no department has an IMAP mailbox" in home.cli("poll")
    home.cli("poll", "--once")

    # Admin changes work on the default, with the generated secret (no environment).
    assert "state closed" in home.cli("close", "1")
    assert "state open" in home.cli("reopen", "1")
    home.cli("reopen", "1", code=1)  # not closed: nothing to reopen
    assert "alice@example.com" in home.cli("assign", "1", "alice@example.com")
    assert home.json("assign", "1", "bob@example.com")["assignee"] == "bob@example.com"
    assert "alice@example.com" in home.cli("assign", "1", "nobody-special", code=2)
    assert home.json("close", "1")["state"] == "closed"
    assert home.json("reopen", "1")["state"] == "open"

    # A file too large to copy to the agents is still there for them.
    pdf = bytes(range(256)) * 4000
    att = email.message.EmailMessage()
    att["From"], att["To"], att["Subject"] = ("jane@customer.example",
                                              "support@example.com", "Invoice")
    att.set_content("The invoice.")
    att.add_attachment(pdf, maintype="application", subtype="pdf", filename="invoice.pdf")
    with smtplib.SMTP("127.0.0.1", 2525) as smtp:
        smtp.send_message(att)
    home.wait_sent(7)
    home.cli("attachment", "2", "invoice.pdf", "--out", "invoice.pdf")
    assert (home.path / "invoice.pdf").read_bytes() == pdf

    # Everything mailticket wrote holds customers' mail: the owner's alone, under the
    # shell's umask 022 too (database, -wal, -shm, the outgoing maildir and its mails).
    var = home.path / "var"
    assert {p.name for p in var.iterdir()} >= {"mailticket.db", "sent"}
    assert modes_open_to_others(var) == []


def test_a_database_others_can_read_is_named_with_the_fix(home: Home) -> None:
    home.cli("db", "upgrade")
    db = home.path / "var" / "mailticket.db"
    assert "readable by other" not in home.cli("status")
    db.chmod(0o644)  # made by an older version, or copied with cp
    out = home.cli("status")
    assert f"{db.relative_to(home.path)} is readable by other accounts (-rw-r--r--)" in out
    assert "chmod 600" in out


def test_a_config_holding_a_password_that_others_can_read_is_reported(home: Home) -> None:
    config = home.path / "config.example.toml"
    assert "readable by other" not in home.cli("check-config", "--offline")  # no literal
    config.write_text(config.read_text().replace(
        '# secret = "only-for-local-experiments"', 'secret = "only-for-local-experiments"'))
    config.chmod(0o600)
    assert "readable by other" not in home.cli("check-config", "--offline")
    config.chmod(0o644)
    out = home.cli("check-config", "--offline")
    assert ("config.example.toml: holds secret and is readable by other accounts "
            "(-rw-r--r--); fix with: chmod 600") in out
    report = home.json("check-config", "--offline")
    assert any("holds secret" in w for w in report["warnings"])
