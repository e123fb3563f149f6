"""`mailticket customer forget` of a customer with 1,000 tickets in a database of
1,000,000, timed as the admin runs it (a CLI process, SQLite).

Each ticket holds the customer's mail (raw, ~1 KB, with a small attachment), the
auto-response (raw), its outbox row, participants (customer, an agent), three
events, the search index and FAQ question of the customer's mail, and the SLA waits.
The target has 1,000 of the tickets and is Cc'd on 20 more.  The database is built
once into ``/tmp/customer-bench/`` and copied before each run (forget changes it).

    python -m bench.forget [--tickets 1000000] [--theirs 1000] [--runs 2]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from mailticket import files
from mailticket.app import App
from mailticket.config import parse_config
from mailticket.search import index
from mailticket.sla import waits
from mailticket.store.models import Event, Message, OutboxItem, Participant, Ticket

CHUNK = 20_000
FOLDER = Path("/tmp/customer-bench")
TARGET = "target.person@x.example"
PHRASE = "my hovercraft is full of eels, said the target"
CONFIG = """secret = "bench"
[database]
url = "sqlite:///{db}"
[outgoing]
transport = "maildir"
maildir = "{folder}/sent"
[[departments]]
name = "support"
address = "support@example.com"
agents = ["alice@example.com"]
"""


def _raw(sender: str, name: str, i: int, text: str) -> bytes:
    file = base64.b64encode(f"attachment of ticket {i} ".encode() * 8).decode()
    return (f"From: {name} <{sender}>\r\nTo: support@example.com\r\n"
            f"Subject: question {i}\r\nMessage-ID: <in-{i}@x.example>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
            f"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
            f"--b\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Disposition: attachment; filename=f{i}.bin\r\n"
            f"Content-Transfer-Encoding: base64\r\n\r\n{file}\r\n--b--\r\n").encode()


def _rows(start: int, stop: int, theirs_every: int, now: datetime) -> dict[type, list[Any]]:
    rows: dict[type, list[Any]] = {Ticket: [], Message: [], Participant: [], Event: [],
                                   OutboxItem: []}
    for i in range(start, stop):
        mine = i % theirs_every == 0
        who = TARGET if mine else f"c{i % 200_000}@x.example"
        at = now - timedelta(minutes=i % 500_000)
        text = PHRASE if mine else f"hello, a question about order {i}"
        name = "Target Person" if mine else f"Person {i}"
        rows[Ticket].append({"id": i, "department": "support", "subject": f"question {i}",
                             "customer": who, "customer_name": name,
                             "state": "closed", "priority": "normal", "language": "en",
                             "created_at": at, "updated_at": at, "escalation_level": 0})
        base = dict(ticket_id=i, in_reply_to=None, references=[], cc=[], attachments=[],
                    language="en", verdict="", source="bench", fingerprint=None, date=at)
        rows[Message] += [
            {**base, "direction": "in", "kind": "customer", "message_id": f"<in-{i}@x>",
             "from_addr": who, "from_name": name, "to": ["support@example.com"],
             "subject": f"question {i}", "text": text, "raw": _raw(who, name, i, text)},
            {**base, "direction": "out", "kind": "auto_response",
             "message_id": f"<out-{i}@example.com>", "from_addr": "support@example.com",
             "from_name": "", "to": [who], "subject": f"Re: question {i}",
             "text": "We got your mail.", "raw": (f"To: {who}\r\n\r\nWe got it.\r\n"
                                                  f"> {text}\r\n").encode()}]
        rows[Participant] += [{"ticket_id": i, "address": who, "name": name,
                               "role": "customer", "bouncing": False},
                              {"ticket_id": i, "address": "alice@example.com", "name": "",
                               "role": "agent", "bouncing": False}]
        if i % (theirs_every * 50) == 7:  # Cc'd on someone else's ticket
            rows[Participant].append({"ticket_id": i, "address": TARGET, "name": "",
                                      "role": "cc", "bouncing": False})
        rows[Event] += [
            {"ticket_id": i, "at": at, "kind": "created", "actor": who, "detail": {}},
            {"ticket_id": i, "at": at, "kind": "mail_sent", "actor": "system",
             "detail": {"to": [who], "kind": "auto_response"}},
            {"ticket_id": i, "at": at, "kind": "state_changed", "actor": "alice@example.com",
             "detail": {"old": "open", "new": "closed"}}]
        rows[OutboxItem].append({"ticket_id": i, "kind": "auto_response",
                                 "message_id": f"<out-{i}@example.com>",
                                 "mail_from": "support@example.com", "rcpt_to": [who],
                                 "created_at": at, "attempts": 1, "next_attempt_at": at,
                                 "sent_at": at})
    return rows


def build(db: Path, config: Path, tickets: int, theirs: int) -> None:
    app = App(parse_config(config.read_text(), str(config)))
    app.ensure_schema()
    now = datetime.now(UTC)
    t0 = time.monotonic()
    every = tickets // theirs
    for start in range(1, tickets + 1, CHUNK):
        rows = _rows(start, min(start + CHUNK, tickets + 1), every, now)
        with app.db.transaction() as s:
            for model, values in rows.items():
                s.execute(insert(model), values)
    # What the daemon keeps beside the mail, so forget erases from a realistic
    # database: the search index and the FAQ questions of every customer mail, and
    # the SLA waits of every ticket.
    with app.db.transaction() as s:
        indexed = index.rebuild(s.connection())
        made = waits.rebuild(s, app.config)
    print(f"indexed {indexed:,} mails, {made:,} waits")
    app.close()
    print(f"built {tickets:,} tickets ({theirs:,} of the target's) in "
          f"{time.monotonic() - t0:.0f} s: {db.stat().st_size / 1e9:.2f} GB")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tickets", type=int, default=1_000_000)
    ap.add_argument("--theirs", type=int, default=1_000)
    ap.add_argument("--runs", type=int, default=2)
    args = ap.parse_args()
    FOLDER.mkdir(parents=True, exist_ok=True)
    files.make_private()
    master = FOLDER / f"forget-{args.tickets}.db"
    work = FOLDER / "work.db"
    config = FOLDER / "config.toml"
    config.write_text(CONFIG.format(db=work, folder=FOLDER))
    build_config = FOLDER / "build.toml"
    build_config.write_text(CONFIG.format(db=master, folder=FOLDER))
    if not master.exists():
        build(master, build_config, args.tickets, args.theirs)
    app = App(parse_config(build_config.read_text(), str(build_config)))
    app.ensure_schema()  # a master built before a migration: upgraded once, not timed
    app.close()
    for run in range(args.runs):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{work}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(master, work)
        t = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "mailticket", "--config", str(config),
                               "customer", "forget", TARGET, "--yes", "--json"],
                              check=True, capture_output=True, text=True)
        took = time.monotonic() - t
        out = json.loads(done.stdout)
        print(f"load average {os.getloadavg()[0]:.1f}; run {run + 1}: forget of "
              f"{len(out['tickets']):,} tickets "
              f"(+{len(out['shared'])} shared) in {took:.2f} s as a process "
              f"({out['seconds']:.2f} s inside), counts {out['erased']}")
    found = _grep(work, [TARGET.encode(), PHRASE.encode()])
    print(f"after the last run, the database files contain the address or phrase: {found}")


def _grep(db: Path, needles: list[bytes]) -> bool:
    """Whether any needle is in the database files (read in overlapping blocks)."""
    longest = max(map(len, needles))
    for path in (db, Path(f"{db}-wal")):
        if not path.exists():
            continue
        with path.open("rb") as f:
            tail = b""
            while block := f.read(1 << 24):
                chunk = tail + block
                if any(n in chunk for n in needles):
                    return True
                tail = chunk[-longest:]
    return False


if __name__ == "__main__":
    main()
