"""``python -m bench.run [--size small|full]``: every mailticket benchmark in one run.

What each row measures, and why, is in docs/benchmarks.md.  Everything happens in a
fresh temp directory on this machine: a private Dovecot (tests/mailservers.py), SMTP
sinks on 127.0.0.1, SQLite databases, and (with --roundup, default for full) a
Roundup tracker.  The table is printed at the end; rows of skipped or failed stages
are printed too, saying so.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import corpus, ingest, reaction, roundup_gw, sla
from bench.common import SinkProcess, log_to_file, machine, write_config
from tests.mailservers import Dovecot

SIZES: dict[str, dict[str, int]] = {
    "small": {"ingest": 300, "reaction": 20, "tickets": 10_000, "drain": 400, "roundup": 100},
    "full": {"ingest": 10_000, "reaction": 200, "tickets": 1_000_000, "drain": 100_000,
             "roundup": 300},
}
STAGES = ("throughput", "roundup", "reaction", "sla", "drain")

# Every row the table has, in order; tests/test_bench_smoke.py checks they are all printed.
ROWS = (
    "raw IMAP fetch",
    "mailticket ingest",
    "ingest / raw fetch",
    "outbox send",
    "ingest, no parse worker",
    "roundup-mailgw",
    "mailticket / Roundup",
    "reaction p50",
    "reaction p95",
    "reaction p99",
    "IMAP IDLE notify delay",
    "SLA count (status)",
    "SLA listing",
    "escalation scan",
    "drain rate",
    "peak RSS (drain)",
    "RSS at 25/50/100 %",
    "drain, no parse worker",
    "peak RSS (drain, no worker)",
)

W = max(map(len, ROWS))  # the measure column's width


@dataclass
class Row:
    value: str = "skipped"
    target: str = ""
    verdict: str = ""
    detail: str = ""


def _rate(x: float) -> str:
    return f"{x:,.0f} mails/s"


def _workers(n: int) -> str:
    return "no parse worker" if n == 0 else f"{n} parse worker{'s' * (n > 1)}"


def _below(got: dict[str, Any]) -> str:
    """The processes below the daemon, by name: "worker 53"."""
    below = got.get("below_mb") or {}
    return ", ".join(f"{name.split()[0]} {mb:.0f}" for name, mb in below.items()) or "none"


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISS"


class Bench:
    def __init__(self, size: str, seed: int, workdir: Path, stages: set[str],
                 with_roundup: bool) -> None:
        self.n = SIZES[size]
        self.size = size
        self.seed = seed
        self.workdir = workdir
        self.stages = stages
        self.with_roundup = with_roundup
        self.rows: dict[str, Row] = {name: Row() for name in ROWS}
        self.results: dict[str, Any] = {"size": size, "seed": seed, "machine": machine()}
        self.failed = False
        self.ingest_rate: float | None = None
        self.sample: list[bytes] = []

    # -- helpers ---------------------------------------------------------------------
    def set(self, name: str, value: str, target: str = "", verdict: str = "",
            detail: str = "") -> None:
        self.rows[name] = Row(value, target, verdict, detail)
        print(f"  {name}: {value}  {detail}", flush=True)

    def stage(self, name: str, rows: tuple[str, ...], fn: Callable[[], None]) -> None:
        if name not in self.stages:
            return
        print(f"[{name}]", flush=True)
        start = time.perf_counter()
        try:
            fn()
        except Exception as e:  # one broken stage must not hide the others' numbers
            self.failed = True
            traceback.print_exc()
            for row in rows:
                self.rows[row] = Row("FAILED", detail=f"{type(e).__name__}: {e}"[:120])
        print(f"  ({time.perf_counter() - start:.1f} s)", flush=True)

    # -- stages ----------------------------------------------------------------------
    def throughput(self, dovecot: Dovecot) -> None:
        n, domain = self.n["ingest"], "ingest.example"
        user = f"support@{domain}"
        raws = corpus.generate(n, seed=self.seed, domain=domain)
        self.sample = raws[:self.n["roundup"]]
        st = corpus.stats(n, seed=self.seed, domain=domain)
        self.results["corpus"] = st.__dict__
        print(f"  corpus: {st.total} mails, {st.bytes / st.total / 1024:.1f} KiB average, "
              f"{st.replies} replies, {st.multipart} multipart, {st.attachments} with "
              f"attachments, machine {st.auto_replies + st.bounces + st.lists} "
              f"({st.auto_replies} auto-replies, {st.bounces} bounces, {st.lists} list)",
              flush=True)
        dovecot.seed_inbox(user, raws)
        ingest.warm(dovecot, user)
        raw = ingest.raw_fetch(dovecot, user)
        self.results["raw_fetch"] = raw.__dict__
        self.set("raw IMAP fetch", _rate(raw.per_second), "-", "",
                 f"{raw.count} mails, UID FETCH BODY.PEEK[] x200, {raw.note}")
        with SinkProcess() as sink:
            config = write_config(self.workdir / "ingest.toml", dovecot=dovecot, domain=domain,
                                  db=self.workdir / "ingest.db", smtp_port=sink.port)
            app = ingest.make_app(config)
            try:
                got = ingest.ingest(app)
                self.ingest_rate = got.per_second
                self.results["ingest"] = got.__dict__
                self.set("mailticket ingest", _rate(got.per_second), ">= 1,000/s",
                         _verdict(got.per_second >= 1000),
                         f"{got.count} mails in {got.seconds:.1f} s, poll_once, fresh SQLite, "
                         f"default configuration ({_workers(app.parser.workers)} here, "
                         "start-up included)")
                share = got.per_second / raw.per_second
                self.set("ingest / raw fetch", f"{share:.1%}", ">= 25 % (stretch)",
                         _verdict(share >= 0.25))
                sent = ingest.send(app)
                accepted = sink.count
                self.results["send"] = {**sent.__dict__, "sink_accepted": accepted}
                self.set("outbox send", _rate(sent.per_second), ">= 500/s",
                         _verdict(sent.per_second >= 500),
                         f"{sent.count} mails in {sent.seconds:.1f} s, sink accepted "
                         f"{accepted}, one SMTP session per deliver() batch")
                if accepted != sent.count:
                    raise RuntimeError(f"outbox says {sent.count} sent, sink got {accepted}")
            finally:
                app.close()
        # The same mailbox again, into a fresh database, parsed in the daemon's process.
        config = write_config(self.workdir / "ingest-0.toml", dovecot=dovecot, domain=domain,
                              db=self.workdir / "ingest-0.db", smtp_port=1, parse_workers=0)
        app = ingest.make_app(config)
        try:
            got = ingest.ingest(app)
            self.results["ingest_no_worker"] = got.__dict__
            self.set("ingest, no parse worker", _rate(got.per_second), "", "",
                     f"{got.count} mails in {got.seconds:.1f} s, [ingest] parse_workers = 0")
        finally:
            app.close()

    def roundup(self) -> None:
        if not self.with_roundup:
            self.set("roundup-mailgw", "skipped", detail="(--roundup to run it)")
            self.set("mailticket / Roundup", "skipped")
            return
        if not self.sample:
            self.sample = corpus.generate(self.n["roundup"], seed=self.seed,
                                          domain="ingest.example")
        got = roundup_gw.run(self.sample, self.workdir)
        self.results["roundup"] = {**got.__dict__, "per_second": got.per_second}
        self.set("roundup-mailgw", f"{got.per_second:,.1f} mails/s", "-", "",
                 f"Roundup {got.version}, {got.count} mails in {got.seconds:.1f} s (start-up "
                 f"{got.startup:.1f} s), {got.issues} issues, {got.messages} msgs, sqlite")
        if self.ingest_rate:
            ratio = self.ingest_rate / got.per_second
            self.set("mailticket / Roundup", f"{ratio:.1f}x", "> 1x", _verdict(ratio > 1),
                     "ingest rate over Roundup's, same corpus")

    def reaction(self, dovecot: Dovecot) -> None:
        got = reaction.measure(dovecot, self.workdir, self.n["reaction"], seed=self.seed + 6)
        self.results["reaction"] = {"samples": got.samples, "timeouts": got.timeouts,
                                    "idle_floor": got.idle_floor}
        detail = (f"{len(got.samples)} mails one at a time, IDLE, daemon subprocess"
                  + (f", {got.timeouts} TIMED OUT (15 s)" if got.timeouts else ""))
        for p in (50, 95, 99):
            value = got.percentile(p)
            self.set(f"reaction p{p}", f"{value * 1000:,.0f} ms",
                     "< 1 s" if p == 99 else "", _verdict(value < 1) if p == 99 else "",
                     detail if p == 50 else "")
        self.set("IMAP IDLE notify delay", f"{got.idle_floor * 1000:,.0f} ms", "", "",
                 "Dovecot: APPEND returned -> EXISTS on an IDLE connection, median of 5 "
                 "(the floor of every reaction time)")
        if got.timeouts:
            raise RuntimeError(f"{got.timeouts} auto-responses never arrived")

    def sla(self, dovecot: Dovecot) -> None:
        config = write_config(self.workdir / "sla.toml", dovecot=dovecot, domain="sla.example",
                              db=self.workdir / "sla.db", smtp_port=1)
        app = ingest.make_app(config)
        try:
            got = sla.measure(app, self.n["tickets"], seed=self.seed)
        finally:
            app.close()
        self.results["sla"] = {"tickets": got.tickets, "insert_seconds": got.insert_seconds,
                               "count": got.count.__dict__, "listing": got.listing.__dict__,
                               "escalation": got.escalation.__dict__}
        where = f"{got.tickets:,} tickets"
        self.set("SLA count (status)", f"{got.count.median_ms:,.1f} ms", "< 100 ms",
                 _verdict(got.count.median_ms < 100),
                 f"{where} (inserted in {got.insert_seconds:.0f} s); views.status, "
                 f"{got.count.rows} at risk or breached")
        self.set("SLA listing", f"{got.listing.median_ms:,.1f} ms", "< 100 ms",
                 _verdict(got.listing.median_ms < 100),
                 f"views.list_tickets(overdue, at_risk): {got.listing.rows} rows")
        self.set("escalation scan", f"{got.escalation.median_ms:,.1f} ms", "< 100 ms",
                 _verdict(got.escalation.median_ms < 100),
                 "Escalator.run, nothing due; median of 7")

    def drain(self, dovecot: Dovecot) -> None:
        n, domain = self.n["drain"], "drain.example"
        user = f"support@{domain}"
        dovecot.seed_inbox(user, (raw for _, raw in
                                  corpus.iter_corpus(n, seed=self.seed + 1, domain=domain)))
        ingest.warm(dovecot, user)
        got = self._drain(dovecot, domain, n, workers=None)
        self.results["drain"] = got
        marks = got["marks"]
        self.set("drain rate", _rate(got["count"] / got["seconds"]), "", "",
                 f"{got['count']} mails in {got['seconds']:.0f} s, one poll_once, default "
                 "configuration")
        peak = got["peak_mb"] + got.get("workers_peak_mb", 0)
        self.set("peak RSS (drain)", f"{peak:,.0f} MB", "< 200 MB", _verdict(peak < 200),
                 f"VmHWM of the draining process ({got['peak_mb']:.0f} MB; "
                 f"{got['baseline_mb']:.0f} before the first mail) + the processes below it "
                 f"({got.get('workers_peak_mb', 0):.0f} MB: {_below(got)})")
        rss = [marks[k]["rss_mb"] + marks[k].get("workers_mb", 0)
               for k in ("25%", "50%", "100%") if k in marks]
        flat = len(rss) == 3 and rss[2] <= rss[0] * 1.15
        self.set("RSS at 25/50/100 %", " / ".join(f"{r:,.0f}" for r in rss) + " MB", "flat",
                 _verdict(flat), " / ".join(f"{marks[k]['mails']:,}" for k in
                                            ("25%", "50%", "100%") if k in marks) + " mails")
        # The same backlog again (a fresh database, the same mailbox), parsed in-process.
        got = self._drain(dovecot, domain, n, workers=0)
        self.results["drain_no_worker"] = got
        self.set("drain, no parse worker", _rate(got["count"] / got["seconds"]), "", "",
                 f"{got['count']} mails in {got['seconds']:.0f} s, [ingest] parse_workers = 0")
        peak = got["peak_mb"] + got.get("workers_peak_mb", 0)
        self.set("peak RSS (drain, no worker)", f"{peak:,.0f} MB", "< 200 MB",
                 _verdict(peak < 200), f"{got['peak_mb']:.0f} MB, one process")

    def _drain(self, dovecot: Dovecot, domain: str, n: int,
               workers: int | None) -> dict[str, Any]:
        name = f"drain-w{'default' if workers is None else workers}"
        config = write_config(self.workdir / f"{name}.toml", dovecot=dovecot, domain=domain,
                              db=self.workdir / f"{name}.db", smtp_port=1,
                              parse_workers=workers)
        proc = subprocess.run([sys.executable, "-m", "bench.drain", str(config), str(n)],
                              capture_output=True, text=True, cwd=Path(__file__).parent.parent)
        if proc.returncode:
            raise RuntimeError(f"bench.drain failed: {proc.stderr[-2000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])

    # -- all of it --------------------------------------------------------------------
    def run(self) -> None:
        log_to_file(self.workdir / "bench.log")
        with Dovecot(self.workdir / "dovecot") as dovecot:
            self.stage("throughput", ROWS[0:5], lambda: self.throughput(dovecot))
            self.stage("roundup", ROWS[5:7], self.roundup)
            self.stage("reaction", ROWS[7:11], lambda: self.reaction(dovecot))
            self.stage("sla", ROWS[11:14], lambda: self.sla(dovecot))
            self.stage("drain", ROWS[14:19], lambda: self.drain(dovecot))

    def table(self) -> str:
        m = self.results["machine"]
        lines = [
            f"mailticket benchmark: size {self.size}, seed {self.seed}",
            f"machine: {m['nproc']} cores {m['cpu']}, {m['ram']} RAM; Python {m['python']}, "
            f"SQLite {m['sqlite']}, Dovecot {m['dovecot']}",
            "",
            f"| {'measure':<{W}} | {'result':>18} | {'target':<18} | {'':<4} | detail",
            f"| {'-' * W} | {'-' * 18} | {'-' * 18} | {'-' * 4} | ------",
        ]
        for name, row in self.rows.items():
            lines.append(f"| {name:<{W}} | {row.value:>18} | {row.target:<18} | "
                         f"{row.verdict:<4} | {row.detail}")
        return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--roundup", action=argparse.BooleanOptionalAction, default=None,
                        help="run Roundup's mail gateway too (default: only for --size full)")
    parser.add_argument("--stages", default=",".join(STAGES),
                        help=f"comma-separated subset of {','.join(STAGES)}")
    parser.add_argument("--json", type=Path, help="also write every number to this file")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temp directory (databases, logs) and print its path")
    args = parser.parse_args(argv)
    stages = {s.strip() for s in args.stages.split(",") if s.strip()}
    unknown = stages - set(STAGES)
    if unknown:
        parser.error(f"unknown stage(s): {', '.join(sorted(unknown))}")
    with_roundup = args.roundup if args.roundup is not None else args.size == "full"
    workdir = Path(tempfile.mkdtemp(prefix="mailticket-bench-"))
    bench = Bench(args.size, args.seed, workdir, stages, with_roundup)
    started = time.perf_counter()
    try:
        bench.run()
    finally:
        print()
        print(bench.table())
        print(f"\n(total {time.perf_counter() - started:.0f} s)")
        if args.json:
            args.json.write_text(json.dumps(bench.results, indent=2, default=str))
        if args.keep:
            print(f"kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 1 if bench.failed else 0


if __name__ == "__main__":
    sys.exit(main())
