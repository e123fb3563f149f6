"""``mailticket reconcile`` as users run it, as processes, against a private Dovecot.

    python -m bench.reconcile [--mails 10000] [--lost 1000] [--workdir DIR]

The mailbox gets ``--mails`` mails of the benchmark corpus; one ``mailticket poll``
stores them all.  Then ``--lost`` more arrive and the watermark is moved past them by
hand.  Timed, each as a process from its start to its exit: ``reconcile --json`` (every
UID accounted for, the lost ones listed), ``reconcile --fix --json`` (the lost ones
processed), and ``reconcile --json`` again (nothing missing).  Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, update

from bench import corpus
from bench.common import SinkProcess, machine, write_config
from mailticket.store.models import MailboxState
from tests.mailservers import Dovecot

DOMAIN = "reconcile.example"


def _timed(config: Path, *args: str) -> tuple[float, int, dict[str, Any]]:
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "mailticket", "--config", str(config),
                           *args], capture_output=True, text=True)
    took = time.perf_counter() - t0
    if done.returncode not in (0, 1):
        raise RuntimeError(f"{args}: exit {done.returncode}: {done.stderr[-2000:]}")
    out = json.loads(done.stdout) if "--json" in args else {}
    return took, done.returncode, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mails", type=int, default=10_000)
    ap.add_argument("--lost", type=int, default=1_000)
    ap.add_argument("--workdir", type=Path, default=None)
    opts = ap.parse_args()
    workdir = opts.workdir or Path(tempfile.mkdtemp(prefix="mailticket-reconcile-"))
    workdir.mkdir(parents=True, exist_ok=True)
    raws = corpus.generate(opts.mails + opts.lost, domain=DOMAIN)
    with Dovecot(workdir / "dovecot") as dovecot, SinkProcess() as sink:
        db = workdir / "reconcile.db"
        db.unlink(missing_ok=True)
        config = write_config(workdir / "reconcile.toml", dovecot=dovecot, domain=DOMAIN,
                              db=db, smtp_port=sink.port)
        dovecot.seed_inbox(f"support@{DOMAIN}", raws[:opts.mails])
        poll, _, _ = _timed(config, "poll")
        dovecot.seed_inbox(f"support@{DOMAIN}", raws[opts.mails:])
        engine = create_engine(f"sqlite:///{db}")
        with engine.begin() as c:  # the watermark moved by hand past the lost mails
            c.execute(update(MailboxState).values(last_uid=opts.mails + opts.lost))
        engine.dispose()
        survey, code, found = _timed(config, "reconcile", "--json")
        fixing, _, fixed = _timed(config, "reconcile", "--fix", "--json")
        again, code_again, after = _timed(config, "reconcile", "--json")
    support = found["departments"][0]
    print(json.dumps({
        "mails": opts.mails, "lost": opts.lost, "poll_seconds": round(poll, 2),
        "survey_seconds": round(survey, 2), "survey_exit": code,
        "missing_found": len(support["missing"]),
        "fix_seconds": round(fixing, 2), "fixed": fixed["departments"][0]["fixed"],
        "second_survey_seconds": round(again, 2), "second_exit": code_again,
        "missing_after": len(after["departments"][0]["missing"]),
        "machine": machine()}))


if __name__ == "__main__":
    main()
