"""Ingest with encryption at rest on and off, as users run it: ``mailticket poll --once``
as a process over the same full mailbox (the messy corpus on a private Dovecot, the
outbox sent to a counting SMTP sink), on a fresh database each time.

    python -m bench.encryption [--mails 3000] [--rounds 3] [--db sqlite|postgresql] [--json FILE]

Runs alternate off, on, off, on … so that a change of the machine's load hits both
alike.  For each: wall seconds of the process, its CPU seconds (user + sys of it and
its parse workers, from ``wait4``), and the load average before it.  The target
(issue 18): the rate with encryption within 10 % of the rate without.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import corpus
from bench.backlog import ROOT, _pg_url
from bench.common import SinkProcess, machine, write_config
from mailticket.store.sealing import blob_of, new_key
from tests.mailservers import Dovecot

DOMAIN = "sealed.example"
VAR = "MAILTICKET_BENCH_DATA_KEY"


def _config(workdir: Path, label: str, dovecot: Dovecot, sink: SinkProcess, db: str,
            encrypted: bool) -> Path:
    path = write_config(workdir / f"{label}.toml", dovecot=dovecot, domain=DOMAIN,
                        db=workdir / f"{label}.db", smtp_port=sink.port)
    text = path.read_text()
    if db == "postgresql":
        text = text.replace(f"sqlite:///{workdir / f'{label}.db'}",
                            _pg_url(f"mailticket_bench_{label}"))
    if encrypted:
        text = text.replace("[[departments]]", f'[storage]\nencryption_key_env = "{VAR}"\n'
                            "[[departments]]", 1)
    path.write_text(text)
    return path


def _poll(config: Path, key: str | None, log: Path,
          command: tuple[str, ...] = ("poll", "--once")) -> dict[str, float]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop(VAR, None)
    if key:
        env[VAR] = key
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    with log.open("wb") as err, log.with_suffix(".out").open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "mailticket", "--config", str(config),
                                 *command], stdout=out, stderr=err, cwd=ROOT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {proc.returncode}; see {log}")
    return {"wall_seconds": round(wall, 2), "cpu_seconds": round(usage.ru_utime + usage.ru_stime,
                                                                   2),
            "load_before": round(load, 2)}


def _check_sealed(path: Path, encrypted: bool) -> None:
    """The run did what it says: every stored text sealed, or none."""
    import sqlite3

    with sqlite3.connect(path) as c:
        texts = [t for (t,) in c.execute("SELECT text FROM messages WHERE text != ''")]
    sealed = sum(blob_of(t) is not None for t in texts)
    if not texts or sealed != (len(texts) if encrypted else 0):
        raise RuntimeError(f"{path}: {sealed} of {len(texts)} texts sealed")


def measure(n: int, rounds: int, db: str, workdir: Path, seed: int = 1) -> dict[str, Any]:
    raws = corpus.generate(n, seed=seed, domain=DOMAIN)
    key = new_key()
    runs: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
    with Dovecot(workdir / "dovecot") as dovecot, SinkProcess() as sink:
        dovecot.seed_inbox(f"support@{DOMAIN}", raws)
        for r in range(rounds):
            for mode in ("off", "on"):
                label = f"{mode}{r}-{db}"
                config = _config(workdir, label, dovecot, sink, db, mode == "on")
                got = _poll(config, key if mode == "on" else None, workdir / f"{label}.log")
                got["mails_per_second"] = round(n / got["wall_seconds"], 1)
                if db == "sqlite":
                    _check_sealed(workdir / f"{label}.db", mode == "on")
                runs[mode].append(got)
                print(f"encryption {mode:<3} round {r + 1}: {got['wall_seconds']:6.1f} s wall "
                      f"({got['mails_per_second']:,.0f} mails/s), {got['cpu_seconds']:6.1f} s "
                      f"CPU, load {got['load_before']:.2f}", flush=True)
        # The last databases once more: the plain one encrypted, the encrypted one
        # moved to a new key (both `db rotate-key` as a process).
        newer = new_key()
        rotations = {}
        for mode, keys in (("off", key), ("on", f"{newer},{key}")):
            label = f"{mode}{rounds - 1}-{db}"
            config = _config(workdir, label, dovecot, sink, db, True)
            log = workdir / f"{label}-rotate.log"
            got: dict[str, Any] = _poll(config, keys, log, ("db", "rotate-key", "--json"))
            got["summary"] = json.loads(log.with_suffix(".out").read_text())
            what = "encrypt a plain database" if mode == "off" else "rotate to a new key"
            rotations[what] = got
            print(f"db rotate-key, {what}: {got['wall_seconds']:.1f} s wall, "
                  f"{got['cpu_seconds']:.1f} s CPU, load {got['load_before']:.2f}: "
                  f"{got['summary']['sealed']} sealed, {got['summary']['rewrapped']} re-wrapped",
                  flush=True)
    summary: dict[str, Any] = {"mails": n, "rounds": rounds, "database": db,
                               "machine": machine(), "runs": runs, "rotate_key": rotations}
    for what in ("wall_seconds", "cpu_seconds"):
        off = statistics.median(x[what] for x in runs["off"])
        on = statistics.median(x[what] for x in runs["on"])
        summary[f"median_{what}"] = {"off": off, "on": on,
                                     "on_vs_off_percent": round(100 * (on / off - 1), 1)}
    w, c = summary["median_wall_seconds"], summary["median_cpu_seconds"]
    print(f"median: wall {w['off']} s off, {w['on']} s on ({w['on_vs_off_percent']:+.1f} %); "
          f"CPU {c['off']} s off, {c['on']} s on ({c['on_vs_off_percent']:+.1f} %)")
    return summary


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mails", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mailticket-sealed-") as tmp:
        results = measure(args.mails, args.rounds, args.db, Path(tmp), args.seed)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
