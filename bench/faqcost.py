"""What FAQ suggestions cost at ingest, as users run it: ``mailticket poll --once`` as a
process against a private Dovecot and a counting SMTP sink.

    python -m bench.faqcost [--mails 1200] [--entries 1000] [--rounds 3]

One mailbox holds ``--mails`` new tickets: the mails of tests/data/faq/ in the six
languages, each from a sender of its own.  Each run polls it into a fresh SQLite
database and sends the outbox (auto-responses and notifications): "off" with no FAQ
entries (``faq.suggest = 0``), "on" with ``--entries`` published entries in each
language (the set's plus bench/faq.py's synthetic ones, loaded beforehand with
``mailticket faq import``, not timed).  Runs alternate; the process's wall time and
its CPU time (user + system, its parse worker included) are read with ``os.wait4``.
The search index is written in both (it cannot be switched off); what it costs is
measured in process by ``python -m bench.faq`` (FAQ and index off against both on).
A ``poll --once`` process builds each language's FAQ index once (bench/faq.py prints
that build time; a daemon pays it once, and again only when entries change): it
counts against "on" here.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

from bench.common import SinkProcess, write_config
from bench.faq import DATA, LANGUAGES, _entries
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


def _cli(config: Path, *args: str) -> tuple[float, float]:
    """(wall, CPU) seconds of one ``mailticket`` process; exits on failure."""
    t = time.perf_counter()
    with config.with_suffix(".log").open("ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "mailticket", "--config", str(config),
                                 *args], stdout=log, stderr=log, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"mailticket {' '.join(args)} failed")
    return wall, usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mails", type=int, default=1200)
    ap.add_argument("--entries", type=int, default=1000, help="entries per language")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    sets = {lang: tomllib.loads((DATA / f"{lang}.toml").read_text(encoding="utf-8"))
            for lang in LANGUAGES}
    texts = [(m["subject"], m["body"]) for d in sets.values() for m in d["mail"]]
    raws = [bytes(mail(f"c{i}@customer.example", f"support@{DOMAIN}", *texts[i % len(texts)],
                       msgid_domain=DOMAIN)) for i in range(args.mails)]
    rng = random.Random(17)
    faq = [e for lang, data in sets.items()
           for e in _entries(lang, data, args.entries, rng)]
    results: dict[str, list[tuple[float, float]]] = {"off": [], "on": []}
    with tempfile.TemporaryDirectory(prefix="mailticket-faqcost-") as tmp_, \
            Dovecot(Path(tmp_) / "dovecot") as dovecot, SinkProcess() as sink:
        tmp = Path(tmp_)
        dovecot.seed_inbox(f"support@{DOMAIN}", raws)
        (tmp / "faq.toml").write_text(_toml(faq), encoding="utf-8")
        print(f"{args.mails} new tickets in six languages; FAQ on: {args.entries} entries "
              f"per language; load average {os.getloadavg()[0]:.1f}", flush=True)
        for n in range(2 * args.rounds):
            mode = "on" if n % 2 else "off"
            config = write_config(tmp / f"{n}.toml", dovecot=dovecot, domain=DOMAIN,
                                  db=tmp / f"{n}.db", smtp_port=sink.port)
            config.write_text(config.read_text() + (
                "\n[faq]\nsuggest = 2\n" if mode == "on" else "\n[faq]\nsuggest = 0\n"))
            _cli(config, "db", "upgrade")
            if mode == "on":
                _cli(config, "faq", "import", str(tmp / "faq.toml"))
            wall, cpu = _cli(config, "poll", "--once")
            results[mode].append((wall, cpu))
            print(f"{mode:>3}: wall {wall:6.2f} s ({args.mails / wall:5.0f} mails/s), CPU "
                  f"{cpu:6.2f} s ({cpu / args.mails * 1000:.2f} ms a mail); load "
                  f"{os.getloadavg()[0]:.1f}", flush=True)
    off_cpu = statistics.median(c for _, c in results["off"])
    on_cpu = statistics.median(c for _, c in results["on"])
    off_wall = min(w for w, _ in results["off"])
    on_wall = min(w for w, _ in results["on"])
    print(f"CPU (medians): off {off_cpu:.2f} s, on {on_cpu:.2f} s: FAQ costs "
          f"{(on_cpu / off_cpu - 1) * 100:.1f} % more CPU; wall (best): off {off_wall:.2f} s, "
          f"on {on_wall:.2f} s: rate {(1 - off_wall / on_wall) * 100:.1f} % lower "
          "(target ≤ 15 %)")


if __name__ == "__main__":
    main()
