"""What FAQ suggestions cost at ingest, as users run it: ``mailticket run`` as a process
against a private Dovecot and a counting SMTP sink, its CPU time read from /proc.

    python -m bench.faqcost [--mails 2400] [--entries 1000] [--rounds 2]

Each run is a fresh SQLite database and a mailbox of its own.  "off": no FAQ entries,
``faq.suggest = 0``; "on": ``--entries`` published entries in each of the six
languages (the set's plus bench/faq.py's synthetic ones), loaded with ``mailticket faq
import`` before the daemon starts.  The daemon first takes six mails, one per
language (in "on" they build each language's FAQ index, once, as in any running
daemon); then ``--mails`` new tickets (the mails of tests/data/faq/, each from a sender
of its own) are dropped into the mailbox, and the daemon's CPU time (user + system of
it and its parse worker, from /proc/PID/stat) and wall time are taken from then until
the UID watermark covers them all.  It sends auto-responses and notifications to the
sink meanwhile.  Runs alternate.

"off" also leaves the search index out, as the target's baseline does: the daemon runs
as ``python -c`` with ``mailticket.store.writes.index_batch`` replaced by nothing, then
the same ``main()`` as ``mailticket run``.  ``--off`` and ``--on`` choose what each of
the two runs has (``none``, ``faq``, ``index`` or ``both``): ``--off index`` measures the
FAQ alone.  The busiest threads' CPU is printed too: the first is the writer, whose
time bounds the stored rate.  ``python -m bench.faq`` measures none against both in
process.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

from sqlalchemy import create_engine, func, select

from bench.common import SinkProcess, descendants, peak_rss_mb, write_config
from bench.faq import DATA, LANGUAGES, _entries
from mailticket.store.models import MailboxState
from tests.builders import mail
from tests.mailservers import Dovecot

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = "faqcost.example"


def _toml(entries: list[dict]) -> str:
    out = []
    for e in entries:
        out.append("[[faq]]")
        for key in ("department", "language", "question", "answer"):
            out.append(f"{key} = {json.dumps(e[key], ensure_ascii=False)}")
    return "\n".join(out) + "\n"


def _cli(config: Path, *args: str) -> None:
    with config.with_suffix(".log").open("ab") as log:
        done = subprocess.run([sys.executable, "-m", "mailticket", "--config", str(config),
                               *args], stdout=log, stderr=log, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"mailticket {' '.join(args)} failed; see {config.with_suffix('.log')}")


def _seconds(stat: Path) -> float:
    """User + system seconds in a /proc stat file; 0 for a process or thread gone."""
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu(pid: int) -> float:
    """User + system seconds of a process and the processes below it, now."""
    return sum(_seconds(Path(f"/proc/{p}/stat")) for p in [pid, *descendants(pid)])


def _threads(pid: int) -> dict[int, float]:
    """User + system seconds of each thread of a process, by thread id."""
    return {int(task.name): _seconds(task / "stat")
            for task in Path(f"/proc/{pid}/task").iterdir()}


def _wait_uid(url: str, uid: int, proc: subprocess.Popen[bytes]) -> None:
    engine = create_engine(url)
    try:
        deadline = time.monotonic() + 1800
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"the daemon exited {proc.returncode}")
            try:
                with engine.connect() as c:
                    if (c.scalar(select(func.max(MailboxState.last_uid))) or 0) >= uid:
                        return
            except Exception:  # the schema is not there yet
                pass
            time.sleep(0.05)
        raise SystemExit("the daemon did not store the mails within 30 minutes")
    finally:
        engine.dispose()


# ``mailticket run`` without the search index: the one call that writes it made a no-op.
_NO_INDEX = ("import mailticket.store.writes as w; w.index_batch = lambda conn, rows: 0; "
             "from mailticket.cli import main; main(prog_name='mailticket')")


def _run(n: int, mode: str, parts: str, tmp: Path, dovecot: Dovecot, sink: SinkProcess,
         warm: list[bytes], raws: list[bytes], profile: Path | None) -> tuple[float, float]:
    """(wall, CPU) seconds the daemon took for ``raws`` after ``warm``; with ``profile``,
    py-spy's samples of the daemon's threads meanwhile, in ``profile/N-MODE.txt``."""
    user = f"support{n}@{DOMAIN}"
    config = write_config(tmp / f"{n}.toml", dovecot=dovecot, domain=DOMAIN,
                          db=tmp / f"{n}.db", smtp_port=sink.port, idle=True,
                          poll_interval=1.0, outbox_interval=0.5)
    text = config.read_text().replace(f'username = "support@{DOMAIN}"', f'username = "{user}"')
    assert user in text, "the IMAP user of this run"
    faq, index = parts in ("faq", "both"), parts in ("index", "both")
    config.write_text(text + f"\n[faq]\nsuggest = {2 if faq else 0}\n")
    _cli(config, "db", "upgrade")
    if faq:
        _cli(config, "faq", "import", str(tmp / "faq.toml"))
    dovecot.seed_inbox(user, warm)
    url = f"sqlite:///{tmp / f'{n}.db'}"
    with config.with_suffix(".log").open("ab") as log:
        start = ["-m", "mailticket"] if index else ["-c", _NO_INDEX]
        proc = subprocess.Popen([sys.executable, *start, "--config", str(config), "run"],
                                stdout=log, stderr=log, cwd=ROOT)
        try:
            _wait_uid(url, len(warm), proc)
            time.sleep(1.0)  # the warm mails' outbox is sent
            spy = None if profile is None else subprocess.Popen(
                ["py-spy", "record", "--format", "raw", "--rate", "200", "--pid",
                 str(proc.pid), "--output", str(profile / f"{n}-{mode}.txt")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            t, cpu, threads = time.perf_counter(), _cpu(proc.pid), _threads(proc.pid)
            dovecot.seed_inbox(user, raws)
            _wait_uid(url, len(warm) + len(raws), proc)
            wall, cpu = time.perf_counter() - t, _cpu(proc.pid) - cpu
            busy = sorted((c - threads.get(tid, 0.0) for tid, c in _threads(proc.pid).items()),
                          reverse=True)
            peaks = [peak_rss_mb(p) for p in [proc.pid, *descendants(proc.pid)]]
            print(f"     the daemon's busiest threads: "
                  f"{', '.join(f'{c:.2f}' for c in busy[:3])} s CPU; peak RSS "
                  f"{' + '.join(f'{m:.0f}' for m in peaks)} MB (daemon first)", flush=True)
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # py-spy writes its samples on SIGINT
                spy.wait(60)
            return wall, cpu
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(120)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mails", type=int, default=2400)
    ap.add_argument("--entries", type=int, default=1000, help="entries per language")
    ap.add_argument("--rounds", type=int, default=2)
    parts = ["none", "faq", "index", "both"]
    ap.add_argument("--off", choices=parts, default="none", help="what the off runs have")
    ap.add_argument("--on", choices=parts, default="both", help="what the on runs have")
    ap.add_argument("--profile", type=Path, help="py-spy (on PATH) samples of each run here")
    args = ap.parse_args(argv)
    sets = {lang: tomllib.loads((DATA / f"{lang}.toml").read_text(encoding="utf-8"))
            for lang in LANGUAGES}
    texts = [(m["subject"], m["body"]) for d in sets.values() for m in d["mail"]]
    first = [(d["mail"][0]["subject"], d["mail"][0]["body"]) for d in sets.values()]
    rng = random.Random(17)
    faq = [e for lang, data in sets.items()
           for e in _entries(lang, data, args.entries, rng)]
    results: dict[str, list[tuple[float, float]]] = {"off": [], "on": []}
    with tempfile.TemporaryDirectory(prefix="mailticket-faqcost-") as tmp_, \
            Dovecot(Path(tmp_) / "dovecot") as dovecot, SinkProcess() as sink:
        tmp = Path(tmp_)
        (tmp / "faq.toml").write_text(_toml(faq), encoding="utf-8")
        print(f"{args.mails} new tickets in six languages; FAQ on: {args.entries} entries "
              f"per language; off: {args.off}, on: {args.on}; "
              f"load average {os.getloadavg()[0]:.1f}", flush=True)
        for n in range(2 * args.rounds):
            mode = "on" if n % 2 else "off"
            warm = [bytes(mail(f"w{n}-{i}@customer.example", f"support@{DOMAIN}", s_, b,
                               msgid_domain=f"w{n}.{DOMAIN}")) for i, (s_, b) in enumerate(first)]
            raws = [bytes(mail(f"c{n}-{i}@customer.example", f"support@{DOMAIN}",
                               *texts[i % len(texts)], msgid_domain=f"r{n}.{DOMAIN}"))
                    for i in range(args.mails)]
            wall, cpu = _run(n, mode, getattr(args, mode), tmp, dovecot, sink, warm, raws,
                             args.profile)
            results[mode].append((wall, cpu))
            print(f"{mode:>3}: wall {wall:6.2f} s ({args.mails / wall:5.0f} mails/s), CPU "
                  f"{cpu:6.2f} s ({cpu / args.mails * 1000:.2f} ms a mail); load "
                  f"{os.getloadavg()[0]:.1f}", flush=True)
    off_cpu = statistics.median(c for _, c in results["off"])
    on_cpu = statistics.median(c for _, c in results["on"])
    off_wall = min(w for w, _ in results["off"])
    on_wall = min(w for w, _ in results["on"])
    what = f"{args.on} against {args.off} costs"
    print(f"CPU (medians): off {off_cpu:.2f} s, on {on_cpu:.2f} s: {what} "
          f"{(on_cpu / off_cpu - 1) * 100:.1f} % more CPU; wall (best): off {off_wall:.2f} s, "
          f"on {on_wall:.2f} s: rate {(1 - off_wall / on_wall) * 100:.1f} % lower "
          "(target ≤ 15 %)")
    # Each on run beside the off run just before it: what a shared machine moves, both move.
    pairs = [(1 - off / on) * 100 for (off, _), (on, _) in zip(results["off"], results["on"],
                                                              strict=True)]
    print(f"rate lower, run by run: {', '.join(f'{p:.1f}' for p in pairs)} % "
          f"(median {statistics.median(pairs):.1f} %)")


if __name__ == "__main__":
    main()
