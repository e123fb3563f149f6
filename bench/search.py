"""Search and FAQ candidates at a million messages, and what the index costs at ingest.

    python -m bench.search [--messages 1000000] [--folder /tmp/search-bench] [--ingest 2000]

1. A year of synthetic tickets (a customer's question, an agent's answer, a follow-up
   on one in five) with 1,000,000 messages is written with Core ``executemany`` into a
   SQLite database made by the project's migrations, then indexed by the same
   ``search.index.rebuild`` that ``db upgrade`` runs (timed: the upgrade's cost).  The
   texts are the bench corpus's sentences in five languages plus words drawn from a
   Zipf law over 100,000 made-up words (names, products, order numbers: the long tail
   a real mailbox has).  The database is kept in ``--folder`` and reused.
2. ``mailticket search`` and ``mailticket faq candidates --days 90`` run as processes
   (best of 5; the interpreter's start and imports included, and measured apart with
   ``mailticket --help``), and the same queries in process (the engine's own time).
3. Ingest with the index on and off: the bench corpus ingested in process through
   ``App.ingest_batch`` (batches of 200, as the IMAP poller does) into fresh SQLite
   databases, alternating on and off three times; "off" replaces the batch's index
   call with nothing.  On a shared machine the wall-clock rates move by tens of
   percent between runs; the CPU time spent in the index call, beside the CPU time of
   the whole ingest, is the steadier figure.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from bench import corpus
from mailticket import files
from mailticket.app import App
from mailticket.config import parse_config
from mailticket.search import index
from mailticket.search.query import search
from mailticket.store.models import Message, Ticket

CHUNK = 20_000
CONFIG = """secret = "bench"
[database]
url = "sqlite:///{db}"
[outgoing]
transport = "maildir"
maildir = "{folder}/sent"
[listener]
enabled = false
[[departments]]
name = "support"
address = "support@bench.example"
agents = ["alice@bench.example", "bob@bench.example"]
[[departments]]
name = "sales"
address = "sales@bench.example"
agents = ["carol@bench.example"]
"""
QUERIES = [("two common words", "password reset"), ("an inflected word", "invoices"),
           ("a Bulgarian inflected word", "паролите"), ("a rare word", "{rare}"),
           ("a word of every tenth mail, in sales", "--department sales session")]
_SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "ze", "bo", "da", "fi",
              "gu", "ha", "jo", "ku", "li", "mo", "nu", "pe", "ri", "so", "tu", "we"]
_ANSWERS = {
    "en": ["Thank you, we have reset the link; please try again within the hour.",
           "We checked your invoice and sent a corrected one to your address.",
           "Your parcel left our warehouse today, the courier brings it tomorrow."],
    "fr": ["Merci, nous avons renvoyé le lien, essayez à nouveau dans l'heure.",
           "Nous avons vérifié votre facture et envoyé une version corrigée."],
    "sv": ["Tack, vi har skickat en ny länk, försök igen inom en timme.",
           "Vi har kontrollerat fakturan och skickat en rättad."],
    "es": ["Gracias, hemos enviado un enlace nuevo, inténtelo de nuevo.",
           "Hemos revisado su factura y le enviamos una corregida."],
    "bg": ["Благодарим, изпратихме нова връзка, опитайте отново.",
           "Проверихме фактурата и изпратихме коригирана."],
}


def _vocabulary(rng: random.Random, n: int = 100_000) -> tuple[list[str], list[float]]:
    words = ["".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4)))
             + str(i % 97) for i in range(n)]
    weights = [1.0 / (rank + 1) ** 1.1 for rank in range(n)]
    cum, total = [], 0.0
    for w in weights:
        total += w
        cum.append(total)
    return words, cum


def build(db: Path, folder: Path, messages: int) -> None:
    """The synthetic year, indexed; nothing is done when ``db`` exists already."""
    if db.exists():
        print(f"reusing {db} ({db.stat().st_size / 1e9:.2f} GB)")
        return
    config = folder / "config.toml"
    app = App(parse_config(config.read_text(), str(config)))
    app.ensure_schema()
    rng = random.Random(11)
    words, cum = _vocabulary(rng)
    now = datetime.now(UTC)
    tickets: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    t0 = time.monotonic()
    ticket, written = 0, 0

    def flush() -> None:
        if not rows:
            return
        with app.db.transaction() as s:
            s.execute(insert(Ticket), tickets)
            s.execute(insert(Message), rows)
        tickets.clear()
        rows.clear()

    while written + len(rows) < messages:
        ticket += 1
        lang = rng.choice(corpus.LANGUAGES)
        created = now - timedelta(seconds=rng.randint(60, 365 * 86400))
        subject = rng.choice(corpus._SUBJECTS[lang]).format(n=rng.randint(1000, 99999))
        dept = "sales" if ticket % 10 == 0 else "support"
        tickets.append({"id": ticket, "department": dept, "subject": subject,
                        "customer": f"c{ticket % 90_000}@x.example", "customer_name": "",
                        "state": rng.choice(("open", "pending", "closed", "closed")),
                        "priority": "normal", "language": lang, "created_at": created,
                        "updated_at": created, "escalation_level": 0})

        def message(kind: str, at: datetime, text: str, subject: str = subject,
                    ticket: int = ticket, written: int = written) -> None:
            rows.append({"ticket_id": ticket, "direction": "in", "kind": kind,
                         "message_id": f"<{written + len(rows)}@bench.example>",
                         "references": [],
                         "from_addr": "", "from_name": "", "to": [], "cc": [],
                         "subject": subject, "date": at, "text": text,
                         "attachments": [], "language": None, "verdict": "",
                         "source": "bench", "raw": b""})

        sentences = corpus._SENTENCES[lang]
        tail = " ".join(rng.choices(words, cum_weights=cum, k=rng.randint(2, 6)))
        body = " ".join(rng.sample(sentences, k=min(len(sentences), rng.randint(2, 4))))
        message("customer", created, f"{corpus._GREETING[lang]}\n\n{body} {tail}\n\n"
                                     f"{corpus._CLOSING[lang]}\n")
        message("agent", created + timedelta(hours=rng.randint(1, 30)),
                rng.choice(_ANSWERS[lang]), f"Re: {subject}")
        if ticket % 5 == 0:
            message("customer", created + timedelta(days=1), corpus._FOLLOW[lang],
                    f"Re: {subject}")
        if len(rows) >= CHUNK:
            written += len(rows)
            flush()
    written += len(rows)
    flush()
    print(f"{ticket:,} tickets, {written:,} messages written in "
          f"{time.monotonic() - t0:.0f} s")
    t0 = time.monotonic()
    with app.db.transaction() as s:
        done = index.rebuild(s.connection())
    print(f"index built over {done:,} messages in {time.monotonic() - t0:.0f} s "
          "(what db upgrade to 0007 costs)")
    app.close()


def index_size(db: Path) -> None:
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall()
    except sqlite3.OperationalError:
        print("index size: this SQLite has no dbstat table")
        return
    sizes = dict(rows)
    fts = sum(v for k, v in sizes.items() if k.startswith("search_index"))
    questions = sum(v for k, v in sizes.items() if "question" in k)
    messages = sizes.get("messages", 0)
    print(f"database {db.stat().st_size / 1e6:,.0f} MB; messages table {messages / 1e6:,.0f} MB;"
          f" search index (FTS5) {fts / 1e6:,.0f} MB; questions {questions / 1e6:,.0f} MB")


def _process(config: Path, *args: str, runs: int = 5) -> float:
    best = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "mailticket", "--config", str(config), *args],
                       check=True, stdout=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - t)
    return best


def timings(folder: Path) -> None:
    config = folder / "config.toml"
    app = App(parse_config(config.read_text(), str(config)))
    rare = _vocabulary(random.Random(11))[0][1000]
    start = _process(config, "--help")
    print(f"process start and imports (mailticket --help): {start * 1000:.0f} ms")
    for label, query in QUERIES:
        args = query.format(rare=rare).split()
        dept = None
        if args[0] == "--department":
            dept, args = args[1], args[2:]
        with app.db.read() as s:
            conn = s.connection()
            search(conn, " ".join(args), department=dept)  # warm the page cache
            runs = []
            for _ in range(5):
                t = time.perf_counter()
                hits = search(conn, " ".join(args), department=dept, limit=20)
                runs.append(time.perf_counter() - t)
        wall = _process(config, "search", "--json", *(["--department", dept] if dept else []),
                        *args)
        print(f"search {label} ({' '.join(args)!r}): in process best {min(runs) * 1000:.1f} ms"
              f", median {statistics.median(runs) * 1000:.1f} ms ({len(hits)} hits); "
              f"as a process {wall * 1000:.0f} ms")
    from mailticket.search.clusters import candidates

    since = app.clock.now() - timedelta(days=90)
    with app.db.read() as s:
        t = time.perf_counter()
        found = candidates(s, app.config, None, since, 5)
        inproc = time.perf_counter() - t
    wall = _process(config, "faq", "candidates", "--days", "90", "--json", runs=3)
    print(f"faq candidates over 90 days: in process {inproc:.2f} s ({len(found)} clusters of "
          f"5 or more, largest {found[0]['size'] if found else 0}); as a process {wall:.2f} s")
    app.close()


def ingest_cost(folder: Path, n: int) -> None:
    import mailticket.store.writes as batch
    from mailticket.search.analyzer import terms

    terms("паролата", "bg")  # a running daemon has loaded the Bulgarian dictionary once
    mails = corpus.generate(n, seed=5, domain="bench.example")
    real = batch.index_batch
    rates: dict[str, list[float]] = {"on": [], "off": []}
    cpu = {"index": 0.0, "all": 0.0}

    def timed(conn: Any, rows: Any) -> int:
        t = time.process_time()
        try:
            return real(conn, rows)
        finally:
            cpu["index"] += time.process_time() - t
    for round_ in range(3):
        for mode in ("on", "off"):
            sub = folder / f"ingest-{mode}-{round_}"
            sub.mkdir(parents=True, exist_ok=True)
            (sub / "x.db").unlink(missing_ok=True)
            text = CONFIG.format(db=sub / "x.db", folder=sub)
            app = App(parse_config(text, str(sub / "config.toml")))
            app.ensure_schema()
            batch.index_batch = timed if mode == "on" else (lambda conn, rows: 0)
            t, c = time.perf_counter(), time.process_time()
            for i in range(0, len(mails), 200):
                app.ingest_batch([(raw, f"bench:{i + j}") for j, raw in
                                  enumerate(mails[i:i + 200])], department="support",
                                 also=lambda s: None)
            rates[mode].append(n / (time.perf_counter() - t))
            if mode == "on":
                cpu["all"] += time.process_time() - c
            app.close()
    batch.index_batch = real
    on, off = statistics.median(rates["on"]), statistics.median(rates["off"])
    print(f"ingest of {n:,} corpus mails in process: index on {on:,.0f} mails/s, off "
          f"{off:,.0f} mails/s (medians of 3, wall clock): {(1 - on / off) * 100:.1f} %; "
          f"CPU time in the index: {cpu['index'] / (cpu['all'] - cpu['index']) * 100:.1f} % "
          "on top of the rest of ingest")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--folder", type=Path, default=Path("/tmp/search-bench"))
    ap.add_argument("--ingest", type=int, default=2000)
    ap.add_argument("--skip", nargs="*", default=[], choices=["build", "time", "ingest"])
    args = ap.parse_args()
    folder = args.folder
    folder.mkdir(parents=True, exist_ok=True)
    files.make_private()
    db = folder / f"search-{args.messages}.db"
    (folder / "config.toml").write_text(CONFIG.format(db=db, folder=folder))
    print(f"machine: {os.cpu_count()} cores; SQLite, {args.messages:,} messages")
    if "build" not in args.skip:
        build(db, folder, args.messages)
        index_size(db)
    if "time" not in args.skip:
        timings(folder)
    if "ingest" not in args.skip:
        ingest_cost(folder, args.ingest)


if __name__ == "__main__":
    main()
