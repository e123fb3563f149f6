"""`mailticket import` of a large mailbox history, timed as the admin runs it.

The corpus of ``bench/corpus.py`` (customers in five languages, replies, attachments,
auto-replies, bounces, list mail) is written once into an mbox file under
``/tmp/history-bench/`` and reused; each run imports it into a fresh SQLite database
made by the project's migrations, with ``mailticket import --json`` as a process.
Then the same file is imported again (every Message-ID already stored).

    python -m bench.import [--mails 100000]
"""

from __future__ import annotations

import argparse
import json
import mailbox
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.corpus import iter_corpus

TARGET = 500  # mails per second
LOAD = [0.0, 0.0, 0.0]
CACHE = Path("/tmp/history-bench")
CONFIG = """secret = "bench"
[database]
url = "sqlite:///{db}"
[outgoing]
transport = "maildir"
maildir = "{folder}/sent"
[listener]
enabled = false
[calendar]
timezone = "Europe/Paris"
holidays = "FR"
[[departments]]
name = "support"
address = "support@bench.example"
agents = ["alice@bench.example", "bob@bench.example"]
[[departments]]
name = "sales"
address = "sales@bench.example"
"""


def corpus_file(n: int) -> Path:
    path = CACHE / f"corpus-{n}.mbox"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part")
        partial.unlink(missing_ok=True)
        box = mailbox.mbox(partial)
        for _kind, raw in iter_corpus(n, domain="bench.example"):
            box.add(raw)
        box.close()
        partial.rename(path)
    return path


def _cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def run(config: Path, mbox: Path) -> tuple[float, float, dict[str, object]]:
    """Wall seconds, CPU seconds (the command and its workers) and the summary."""
    started, cpu = time.perf_counter(), _cpu()
    done = subprocess.run(
        [sys.executable, "-m", "mailticket", "--config", str(config), "import",
         "--department", "support", str(mbox), "--json"],
        check=True, capture_output=True, text=True)
    return time.perf_counter() - started, _cpu() - cpu, json.loads(done.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=100_000)
    args = parser.parse_args()
    mbox = corpus_file(args.mails)
    LOAD[:] = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="history-bench-") as folder:
        config = Path(folder) / "c.toml"
        config.write_text(CONFIG.format(db=f"{folder}/x.db", folder=folder))
        first, cpu, summary = run(config, mbox)
        again, cpu_again, repeat = run(config, mbox)
    rate = args.mails / first
    print(f"import of {args.mails} mails: {first:.1f} s, {rate:.0f} mails/s "
          f"(target {TARGET}), {cpu:.1f} s CPU; load average before "
          f"{LOAD[0]:.1f}; {summary['tickets']} tickets, {summary['messages']} stored, "
          f"{summary['skipped']} skipped {summary['skipped_reasons']}")
    print(f"same file again: {again:.1f} s ({cpu_again:.1f} s CPU), {repeat['messages']} stored, "
          f"{repeat['skipped']} skipped")
    return 0 if rate >= TARGET and repeat["messages"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
