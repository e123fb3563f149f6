"""The backlog as users see it: ``mailticket poll --once`` and ``mailticket run`` as
processes, against a private Dovecot and a counting SMTP sink, on the messy corpus.

    python -m bench.backlog [--mails 10000] [--db sqlite|postgresql] [--prefill N]
                            [--sinks 2] [--aiosmtpd] [--commands poll,run] [--json FILE]

For each command, on a fresh database (or a copy of one that already holds
``--prefill`` tickets, bench/prefill.py) and the same full mailbox: the **stored
rate** (mails until the UID watermark reached the mailbox's last UID, read from the
database by this process every 0.1 s) and the **end-to-end rate** (mails until every
mail the outbox holds was accepted by the sink), both from the process start; the
CPU seconds (user + system) the command and its children (parse workers) had used
at each of those instants, from /proc; the most RSS the process and its children
held at one instant (VmRSS summed, every 0.1 s) and the sum of each one's own peak
(VmHWM, an upper bound: the schema child peaks at the start); what the sink had
accepted when the last mail was stored; the sinks' CPU, and the load average before and after.
Nothing of mailticket runs in this process.  The sink is ``--sinks`` lean
processes on one port (bench/sink.py); ``--aiosmtpd`` for aiosmtpd instead.
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

from bench import corpus, prefill
from bench.common import SinkProcess, descendants, machine, peak_rss_mb, rss_mb, write_config
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


def _pg_copy(name: str, template: str) -> str:
    admin = create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                          isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        c.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    admin.dispose()
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def _config(workdir: Path, label: str, dovecot: Dovecot, sink: SinkProcess,
            db: str, prefilled: int, cache: Path) -> tuple[Path, str]:
    path = write_config(workdir / f"{label}.toml", dovecot=dovecot, domain=DOMAIN,
                        db=workdir / f"{label}.db", smtp_port=sink.port, idle=True,
                        poll_interval=1.0, outbox_interval=0.5)
    url = f"sqlite:///{workdir / f'{label}.db'}"
    if db == "postgresql":
        name = f"mailticket_bench_{label.replace('-', '_')}"
        url = _pg_copy(name, prefill.pg_template(prefilled)) if prefilled else _pg_url(name)
        path.write_text(path.read_text().replace(f"sqlite:///{workdir / f'{label}.db'}", url))
    elif prefilled:
        prefill.sqlite_copy(cache, prefilled, workdir / f"{label}.db")
    return path, url


def _peaks(pid: int, seen: dict[int, tuple[str, float]]) -> float:
    """The VmHWM of the process and of its live children, summed; ``seen`` keeps each
    process's own peak and what it runs, for the daemon/worker split."""
    total = 0.0
    for p in [pid, *descendants(pid)]:
        with contextlib.suppress(OSError):
            mb = peak_rss_mb(p)
            total += mb
            with open(f"/proc/{p}/cmdline", "rb") as fh:
                args = fh.read().split(b"\0")
            name = "daemon" if p == pid else "worker" if b"mailticket.ingest.workers" in \
                args else " ".join(a.decode(errors="replace") for a in args[:3])
            seen[p] = (name, max(mb, seen.get(p, ("", 0.0))[1]))
    return total


def _rss_now(pid: int) -> float:
    """The VmRSS of the process and of its live children, summed: what they hold at
    one instant (the sum of each one's own peak overstates it when the peaks come at
    different times, as the schema child's at the start does)."""
    return sum(rss_mb(p) for p in [pid, *descendants(pid)])  # 0 for one gone meanwhile


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> tuple[float, float]:
    """User + system CPU of a live process, and of its live descendants plus what its
    waited-for children used (/proc/PID/stat utime, stime, cutime, cstime)."""
    own = children = 0
    for p in [pid, *descendants(pid)]:
        with contextlib.suppress(OSError, IndexError, ValueError), \
                open(f"/proc/{p}/stat") as fh:
            fields = [int(f) for f in fh.read().rsplit(")", 1)[1].split()[11:15]]
            if p == pid:
                own += fields[0] + fields[1]
                children += fields[2] + fields[3]
            else:
                children += sum(fields)
    return own / _TICK, children / _TICK


def _watch(proc: subprocess.Popen[bytes], url: str, last_uid: int, sink: SinkProcess,
           t0: float, done_when_exits: bool) -> dict[str, Any]:
    """Sample until every mail is stored and every queued mail accepted by the sink."""
    engine = create_engine(url)
    stored_at = sent_at = None
    stored_cpu = sent_cpu = cpu = (0.0, 0.0)
    base: int | None = None
    first: tuple[float, float] | None = None  # wall and CPU when the first batch committed
    peak = together = 0.0
    peaks: dict[int, tuple[str, float]] = {}
    queued = accepted = sent_while_storing = 0
    try:
        while True:
            if proc.poll() is None:
                with contextlib.suppress(OSError):
                    peak = max(peak, _peaks(proc.pid, peaks))
                    together = max(together, _rss_now(proc.pid))
                    cpu = max(cpu, cpu_seconds(proc.pid), key=sum)
            now = time.perf_counter() - t0
            try:
                with engine.connect() as c:
                    uid = c.scalar(select(func.max(MailboxState.last_uid))) or 0
                    if base is None:  # the prefilled mails' outbox rows are not counted
                        base = c.scalar(select(func.max(OutboxItem.id))) or 0
                    queued = c.scalar(select(func.count()).select_from(OutboxItem).where(
                        OutboxItem.id > base)) or 0
                    waiting = c.scalar(select(func.count()).select_from(OutboxItem).where(
                        OutboxItem.sent_at.is_(None), OutboxItem.failed_at.is_(None))) or 0
            except Exception:  # the schema is not there yet
                uid, waiting = 0, 1
            if first is None and uid > 0:
                first = (now, sum(cpu))
            if stored_at is None and uid >= last_uid:
                stored_at, stored_cpu = now, cpu
                sent_while_storing = sink.count
            if stored_at is not None and waiting == 0:
                accepted = sink.count
                if accepted >= queued:
                    sent_at, sent_cpu = now, cpu
                    break
            if done_when_exits and proc.poll() is not None:
                if stored_at is None or sent_at is None:
                    stored_at, stored_cpu = stored_at or now, stored_cpu if stored_at else cpu
                    sent_at, sent_cpu = now, cpu
                    accepted = sink.count
                break
            if now > 3600:
                raise RuntimeError("no end after an hour")
            time.sleep(0.1)
    finally:
        engine.dispose()
    return {"stored_seconds": stored_at, "end_to_end_seconds": sent_at, "queued": queued,
            "accepted": accepted, "sent_while_storing": sent_while_storing,
            "peak_rss_mb": round(peak, 1), "peak_rss_together_mb": round(together, 1),
            "peak_rss_by_process_mb": [(name, round(mb, 1)) for name, mb in peaks.values()],
            "stored_cpu_seconds": round(sum(stored_cpu), 2),
            "end_to_end_cpu_seconds": round(sum(sent_cpu), 2),
            "stored_cpu_daemon_seconds": round(stored_cpu[0], 2),
            "first_batch_seconds": round(first[0], 2) if first else None,
            "first_batch_cpu_seconds": round(first[1], 2) if first else None,
            "end_to_end_cpu_daemon_seconds": round(sent_cpu[0], 2)}


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


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def measure(n: int, db: str, workdir: Path, seed: int = 1, prefilled: int = 0,
            cache: Path = Path("/tmp/mailticket-prefill"), sinks: int = 2,
            aiosmtpd: bool = False, commands: tuple[str, ...] = ("poll", "run"),
            ) -> dict[str, Any]:
    raws = corpus.generate(n, seed=seed, domain=DOMAIN)
    st = corpus.stats(n, seed=seed, domain=DOMAIN)
    results: dict[str, Any] = {"mails": n, "database": db, "prefilled_tickets": prefilled,
                               "sinks": sinks, "sink": "aiosmtpd" if aiosmtpd else "lean",
                               "corpus": st.__dict__, "machine": machine()}
    if prefilled:  # built (or found) before anything is timed
        if db == "postgresql":
            prefill.pg_template(prefilled)
        else:
            prefill.sqlite_file(cache, prefilled)
    with Dovecot(workdir / "dovecot") as dovecot, \
            SinkProcess(sinks, aiosmtpd=aiosmtpd) as sink:
        user = f"support@{DOMAIN}"
        dovecot.seed_inbox(user, raws)
        last_uid = len(raws)
        runs: list[tuple[str, list[str], bool]] = [
            ("poll", ["poll", "--once"], False), ("run", ["run"], True)]
        for label, cmd, daemon in runs:
            if label not in commands:
                continue
            config, url = _config(workdir, f"{label}-{db}", dovecot, sink, db, prefilled,
                                  cache)
            load_before, sink_cpu = _load(), sink.cpu
            got = _run(cmd, config, url, last_uid, sink, workdir / f"{label}.log", daemon)
            got["sink_cpu_seconds"] = round(sink.cpu - sink_cpu, 2)
            got["load_before"], got["load_after"] = load_before, _load()
            got["stored_per_second"] = round(n / got["stored_seconds"], 1)
            got["end_to_end_per_second"] = round(n / got["end_to_end_seconds"], 1)
            results[label] = got
            print(f"{' '.join(cmd):<12} {db:<10} {prefilled:>9,} prefilled  stored "
                  f"{got['stored_per_second']:>6,.0f}/s ({got['stored_seconds']:.1f} s, CPU "
                  f"{got['stored_cpu_seconds']:.1f} s, of it the daemon's "
                  f"{got['stored_cpu_daemon_seconds']:.1f})  end to end "
                  f"{got['end_to_end_per_second']:>6,.0f}/s ({got['end_to_end_seconds']:.1f} s, "
                  f"CPU {got['end_to_end_cpu_seconds']:.1f} s, the daemon's "
                  f"{got['end_to_end_cpu_daemon_seconds']:.1f}, {got['accepted']} of "
                  f"{got['queued']} accepted, {got['sent_while_storing']} while storing)  "
                  f"first batch at {got['first_batch_seconds']} s, "
                  f"CPU {got['first_batch_cpu_seconds']} s  peak RSS "
                  f"{got['peak_rss_together_mb']:.0f} MB together, "
                  f"own peaks {got['peak_rss_mb']:.0f} MB "
                  f"({', '.join(f'{n} {mb:.0f}' for n, mb in got['peak_rss_by_process_mb'])})  "
                  f"sinks' CPU {got['sink_cpu_seconds']:.1f} s  load {load_before} -> "
                  f"{got['load_after']}", flush=True)
    return results


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mails", type=int, default=10_000)
    ap.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--prefill", type=int, default=0,
                    help="tickets the database holds before the backlog (e.g. 1000000)")
    ap.add_argument("--prefill-cache", type=Path, default=Path("/tmp/mailticket-prefill"),
                    help="where the prefilled SQLite file is kept between runs")
    ap.add_argument("--sinks", type=int, default=2, help="SMTP sink processes")
    ap.add_argument("--aiosmtpd", action="store_true", help="aiosmtpd sinks, not lean ones")
    ap.add_argument("--commands", default="poll,run")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mailticket-backlog-") as tmp:
        results = measure(args.mails, args.db, Path(tmp), args.seed, args.prefill,
                          args.prefill_cache, args.sinks, args.aiosmtpd,
                          tuple(args.commands.split(",")))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
