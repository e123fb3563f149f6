"""The backlog as users see it: ``mailticket poll --once`` and ``mailticket run`` as
processes, against a private Dovecot and a counting SMTP sink, on the messy corpus.

    python -m bench.backlog [--mails 10000] [--db sqlite|postgresql] [--json FILE]

For each command, on a fresh database and the same full mailbox: the **stored rate**
(mails until the UID watermark reached the mailbox's last UID, read from the
database by this process every 0.1 s) and the **end-to-end rate** (mails until every
mail the outbox holds was accepted by the sink), both from the process start, and
the process's peak RSS plus its children's (VmHWM, read while it runs).  Nothing of
mailticket runs in this process.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select, text

from bench import corpus
from bench.common import SinkProcess, descendants, machine, peak_rss_mb, write_config
from mailticket.store.models import MailboxState, OutboxItem
from tests.mailservers import Dovecot

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = "backlog.example"


def _pg_url(name: str) -> str:
    admin = create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                          isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        c.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def _config(workdir: Path, label: str, dovecot: Dovecot, sink: SinkProcess,
            db: str) -> tuple[Path, str]:
    path = write_config(workdir / f"{label}.toml", dovecot=dovecot, domain=DOMAIN,
                        db=workdir / f"{label}.db", smtp_port=sink.port, idle=True,
                        poll_interval=1.0, outbox_interval=0.5)
    url = f"sqlite:///{workdir / f'{label}.db'}"
    if db == "postgresql":
        url = _pg_url(f"mailticket_bench_{label}")
        path.write_text(path.read_text().replace(f"sqlite:///{workdir / f'{label}.db'}", url))
    return path, url


def _peak(pid: int) -> float:
    return sum(peak_rss_mb(p) for p in [pid, *descendants(pid)])


def _watch(proc: subprocess.Popen[bytes], url: str, last_uid: int, sink: SinkProcess,
           t0: float, done_when_exits: bool) -> dict[str, Any]:
    """Sample until every mail is stored and every queued mail accepted by the sink."""
    engine = create_engine(url)
    stored_at = sent_at = None
    peak = 0.0
    queued = accepted = 0
    try:
        while True:
            if proc.poll() is None:
                with contextlib.suppress(OSError):
                    peak = max(peak, _peak(proc.pid))
            now = time.perf_counter() - t0
            try:
                with engine.connect() as c:
                    uid = c.scalar(select(func.max(MailboxState.last_uid))) or 0
                    queued = c.scalar(select(func.count()).select_from(OutboxItem)) or 0
                    waiting = c.scalar(select(func.count()).select_from(OutboxItem).where(
                        OutboxItem.sent_at.is_(None), OutboxItem.failed_at.is_(None))) or 0
            except Exception:  # the schema is not there yet
                uid, waiting = 0, 1
            if stored_at is None and uid >= last_uid:
                stored_at = now
            if stored_at is not None and waiting == 0:
                accepted = sink.count
                if accepted >= queued:
                    sent_at = now
                    break
            if done_when_exits and proc.poll() is not None:
                if stored_at is None or sent_at is None:
                    stored_at = stored_at or now
                    sent_at = now
                    accepted = sink.count
                break
            if now > 3600:
                raise RuntimeError("no end after an hour")
            time.sleep(0.1)
    finally:
        engine.dispose()
    return {"stored_seconds": stored_at, "end_to_end_seconds": sent_at, "queued": queued,
            "accepted": accepted, "peak_rss_mb": round(peak, 1)}


def _run(cmd: list[str], config: Path, url: str, last_uid: int, sink: SinkProcess,
         log: Path, daemon: bool) -> dict[str, Any]:
    base = sink.count
    t0 = time.perf_counter()
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "mailticket", "--config", str(config),
                                 *cmd], stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            got = _watch(proc, url, last_uid, _Offset(sink, base), t0,
                         done_when_exits=not daemon)
        finally:
            if daemon and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            code = proc.wait(600)
    if code != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {code}; see {log}")
    return got


class _Offset:
    """The sink's count since this run started (the sink serves every run)."""

    def __init__(self, sink: SinkProcess, base: int) -> None:
        self.sink, self.base = sink, base

    @property
    def count(self) -> int:
        return self.sink.count - self.base


def measure(n: int, db: str, workdir: Path, seed: int = 1) -> dict[str, Any]:
    raws = corpus.generate(n, seed=seed, domain=DOMAIN)
    st = corpus.stats(n, seed=seed, domain=DOMAIN)
    results: dict[str, Any] = {"mails": n, "database": db, "corpus": st.__dict__,
                               "machine": machine()}
    with Dovecot(workdir / "dovecot") as dovecot, SinkProcess() as sink:
        user = f"support@{DOMAIN}"
        dovecot.seed_inbox(user, raws)
        last_uid = len(raws)
        runs: list[tuple[str, list[str], bool]] = [
            ("poll", ["poll", "--once"], False), ("run", ["run"], True)]
        for label, cmd, daemon in runs:
            config, url = _config(workdir, f"{label}-{db}", dovecot, sink, db)
            got = _run(cmd, config, url, last_uid, sink, workdir / f"{label}.log", daemon)
            got["stored_per_second"] = round(n / got["stored_seconds"], 1)
            got["end_to_end_per_second"] = round(n / got["end_to_end_seconds"], 1)
            results[label] = got
            print(f"{' '.join(cmd):<12} {db:<10} stored {got['stored_per_second']:>7,.0f}/s "
                  f"({got['stored_seconds']:.1f} s)  end to end "
                  f"{got['end_to_end_per_second']:>7,.0f}/s ({got['end_to_end_seconds']:.1f} s, "
                  f"{got['accepted']} of {got['queued']} accepted)  peak RSS "
                  f"{got['peak_rss_mb']:.0f} MB", flush=True)
    return results


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mails", type=int, default=10_000)
    ap.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mailticket-backlog-") as tmp:
        results = measure(args.mails, args.db, Path(tmp), args.seed)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
