"""Several daemons on one PostgreSQL database, as shipped (``[daemons]`` defaults:
heartbeat 2 s, dead 10 s): what a quiet cluster costs, and how soon a killed daemon's
mailboxes are answered by the others.

Every daemon is ``python -m mailticket --config X run`` in its own process, IDLE on
and a 60 s safety poll, over a private Dovecot, sending to the recording SMTP sink of
this process.  First the cluster idles for ``--idle`` seconds: the database's commits
per second (``pg_stat_database.xact_commit``, all daemons together) and each daemon's
CPU time (user+sys from /proc) over that time.  Then ``--kills`` times: SIGKILL the
daemon holding the most mailboxes, append one mail to each of its mailboxes at once,
and time until the sink accepted the auto-response to every one of them; a fresh
daemon replaces the killed one before the next round.

    python -m bench.failover --pg postgresql+psycopg://postgres@127.0.0.1:5432/postgres

``--round-cost M`` measures instead, in this process (it explains a number of the
plan in docs/deploy.md, it is not what users run), one balancing round over M lease
rows with ten live daemons: wall and CPU time per round, and the rows' size.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

from bench.common import LOCALHOST, SmtpSink
from mailticket import views
from mailticket.app import App
from mailticket.config import parse_config
from tests.builders import ONE_DAY, PARIS_OFFICE, config_toml, department, mail
from tests.mailservers import Dovecot


def _config(dovecot: Dovecot, domain: str, url: str, port: int, boxes: int) -> str:
    def imap(local: str) -> dict[str, object]:
        return {"host": LOCALHOST, "port": dovecot.imap_port, "security": "none",
                "username": f"{local}@{domain}", "password": Dovecot.PASSWORD,
                "poll_interval": 60, "timeout": 30}

    return config_toml(
        secret=f"bench-secret-{domain}", instance="mailticket-bench", database={"url": url},
        outgoing={"transport": "smtp", "host": LOCALHOST, "port": port, "security": "none",
                  "interval": 5},
        calendar=PARIS_OFFICE, sla=ONE_DAY,
        departments=[department(f"desk{i:03d}", domain, agents=["alice"],
                                imap=imap(f"desk{i:03d}")) for i in range(boxes)])


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _commits(admin_url: str, name: str) -> int:
    engine = create_engine(admin_url)
    with engine.connect() as c:
        n = c.execute(text("SELECT xact_commit FROM pg_stat_database WHERE datname = :n"),
                      {"n": name}).scalar()
    engine.dispose()
    return int(n or 0)


def _held(app: App) -> dict[int, list[str]]:
    with app.db.read() as s:
        data = views.status(s, app.config, app.clock.now())
    return {d["pid"]: d["mailboxes"] for d in data["daemons"] if d["command"] == "run"}


def _divided(app: App, pids: set[int], boxes: int, timeout: float = 120) -> dict[int, list[str]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        held = _held(app)
        counts = sorted(len(v) for v in held.values())
        if set(held) == pids and sum(counts) == boxes and counts[-1] - counts[0] <= 1:
            return held
        time.sleep(0.5)
    raise SystemExit(f"never divided: {_held(app)}")


def round_cost(admin_url: str, url: str, boxes: int, rounds: int = 50) -> None:
    """One daemon's balancing round over ``boxes`` lease rows, nine other daemons live."""
    from mailticket.daemons import Registry
    from mailticket.leases import MailboxLeases
    from mailticket.store.db import Database

    db = Database(url)
    db.upgrade()
    names = [f"desk{i:05d}" for i in range(boxes)]
    registries = [Registry(db, "run", dead_after=3600) for _ in range(10)]
    for r in registries:
        r.register()
    leases = [MailboxLeases(db, r, names, lambda d: None, lambda d: None)
              for r in registries]
    leases[0].prepare()
    for _ in range(2):  # everybody takes its share
        for lease in leases:
            lease.round()
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(rounds):
        leases[0].round()
    wall = (time.perf_counter() - t0) / rounds
    cpu = (time.process_time() - c0) / rounds
    with db.engine.connect() as c:
        size = c.execute(text("SELECT pg_total_relation_size('mailbox_leases')")).scalar()
    print(f"balancing round, {boxes} leases, 10 daemons ({len(leases[0].held)} held here): "
          f"{1000 * wall:.1f} ms wall, {1000 * cpu:.1f} ms CPU (this process) per round; "
          f"table {int(size or 0) / 1024:.0f} kB; load average {os.getloadavg()}")
    db.dispose()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--mailboxes", type=int, default=12)
    ap.add_argument("--daemons", type=int, default=3)
    ap.add_argument("--kills", type=int, default=3)
    ap.add_argument("--idle", type=float, default=60.0)
    ap.add_argument("--round-cost", type=int, default=0, metavar="M")
    args = ap.parse_args()

    name = f"bench_failover_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = args.pg.rsplit("/", 1)[0] + "/" + name
    work = Path(tempfile.mkdtemp(prefix="mt-failover-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        if args.round_cost:
            round_cost(args.pg, url, args.round_cost)
            return
        with Dovecot(work / "dovecot") as dovecot, SmtpSink(record=True) as sink:
            domain = f"fo-{uuid.uuid4().hex[:6]}.example"
            cfg_text = _config(dovecot, domain, url, sink.port, args.mailboxes)
            cfg_path = work / "mailticket.toml"
            cfg_path.write_text(cfg_text)
            app = App(parse_config(cfg_text, str(cfg_path)))
            app.ensure_schema()
            logs = work / "logs"
            logs.mkdir()

            def start() -> subprocess.Popen[bytes]:
                log = open(logs / f"{len(procs)}.log", "wb")  # noqa: SIM115 (the child's)
                p = subprocess.Popen([sys.executable, "-m", "mailticket", "--config",
                                      str(cfg_path), "run"], stdout=log, stderr=log)
                procs.append(p)
                return p

            running = [start() for _ in range(args.daemons)]
            held = _divided(app, {p.pid for p in running}, args.mailboxes)
            time.sleep(5)  # past the start's own work
            cpu0 = {p.pid: _cpu(p.pid) for p in running}
            commits0, t0 = _commits(args.pg, name), time.monotonic()
            time.sleep(args.idle)
            wall = time.monotonic() - t0
            commits = (_commits(args.pg, name) - commits0) / wall
            cpu = {pid: (_cpu(pid) - c) / wall for pid, c in cpu0.items()}
            print(f"idle {wall:.0f} s, {args.daemons} daemons, {args.mailboxes} mailboxes: "
                  f"{commits:.1f} commits/s on the database; CPU per daemon (user+sys) "
                  + ", ".join(f"{len(held[p])} mailboxes {100 * v:.2f} %"
                              for p, v in cpu.items()))
            takeovers = []
            for k in range(args.kills):
                held = _divided(app, {p.pid for p in running}, args.mailboxes)
                doomed = max(running, key=lambda p: len(held[p.pid]))
                boxes = held[doomed.pid]
                doomed.send_signal(signal.SIGKILL)
                doomed.wait()
                killed = time.monotonic()
                running.remove(doomed)
                waiting: dict[str, str] = {}  # Message-ID -> its customer
                for box in boxes:
                    customer = f"k{k}-{box}@{domain}"
                    m = mail(f"Cust <{customer}>", f"{box}@{domain}", f"Kill {k} {box}",
                             "Anyone there?")
                    dovecot.append(f"{box}@{domain}", bytes(m))
                    waiting[m["Message-ID"]] = customer
                while waiting and time.monotonic() < killed + 120:
                    for a in list(sink.arrivals):
                        if a.in_reply_to in waiting and waiting[a.in_reply_to] in a.rcpts:
                            del waiting[a.in_reply_to]
                    time.sleep(0.05)
                took = time.monotonic() - killed
                takeovers.append(took)
                print(f"kill {k + 1}: {len(boxes)} mailboxes of the killed daemon, last "
                      f"auto-response {took:.1f} s after SIGKILL"
                      + (f" ({len(waiting)} never answered)" if waiting else ""))
                running.append(start())
            print(f"load average at the end: {os.getloadavg()}")
            app.close()
    finally:
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                p.send_signal(signal.SIGTERM)
        for p in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=20)
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
