"""What a command costs before it does anything: the interpreter's start and imports.

    python -m bench.startup [--runs 7] [--folder /tmp/startup-bench] [--config FILE]

Runs ``mailticket --help``, ``mailticket search …`` and ``mailticket tickets`` as
processes, as an admin types them, against a small SQLite database made by the project
(or the database of ``--config``), and prints for each the best and median wall time
and the CPU time (user + system) of the process, read from ``os.wait4``.  Also prints
how many modules each command leaves imported and whether the heavy libraries
(jinja2, imapclient, aiosmtpd, lingua, simplemma, alembic, apscheduler,
prometheus_client, matplotlib) are among them, which is what lazy imports decide.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

CONFIG = """secret = "bench"
[database]
url = "sqlite:///{folder}/startup.db"
[outgoing]
transport = "maildir"
maildir = "{folder}/sent"
[listener]
enabled = false
[[departments]]
name = "support"
address = "support@bench.example"
agents = ["alice@bench.example"]
"""
COMMANDS = [("--help",), ("search", "password"), ("tickets",), ("faq", "list")]
HEAVY = ("jinja2", "imapclient", "aiosmtpd", "lingua", "simplemma", "alembic", "apscheduler",
         "prometheus_client", "matplotlib", "inscriptis", "quotequail", "holidays",
         "pydantic", "sqlalchemy.orm")
_PROBE = ("import runpy, sys\n"
          "sys.argv = ['mailticket', *sys.argv[1:]]\n"
          "try:\n"
          "    runpy.run_module('mailticket', run_name='__main__')\n"
          "except SystemExit:\n"
          "    pass\n"
          "heavy = {heavy!r}\n"
          "print('MODULES', len(sys.modules), ' '.join(h for h in heavy if h in sys.modules),"
          " file=sys.stderr)\n")


def run_once(config: Path, args: tuple[str, ...]) -> tuple[float, float]:
    """(wall, CPU user+sys) seconds of one ``python -m mailticket`` process."""
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "mailticket", "--config", str(config), *args],
                            stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"mailticket {' '.join(args)} exited {proc.returncode}")
    return wall, usage.ru_utime + usage.ru_stime


def modules(config: Path, args: tuple[str, ...]) -> str:
    out = subprocess.run([sys.executable, "-c", _PROBE.format(heavy=HEAVY),
                          "--config", str(config), *args],
                         capture_output=True, text=True, check=False).stderr
    line = next((x for x in out.splitlines() if x.startswith("MODULES")), "MODULES ? ?")
    _, count, *heavy = line.split(" ")
    return f"{count} modules; heavy: {' '.join(h for h in heavy if h) or 'none'}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--folder", type=Path, default=Path("/tmp/startup-bench"))
    ap.add_argument("--config", type=Path, help="an existing configuration (e.g. the search "
                    "bench's million messages)")
    args = ap.parse_args()
    config = args.config
    if config is None:
        args.folder.mkdir(parents=True, exist_ok=True)
        config = args.folder / "config.toml"
        config.write_text(CONFIG.format(folder=args.folder))
    run_once(config, ("tickets",))  # creates the schema once; the page cache is warm
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}; "
          f"{os.cpu_count()} cores; {args.runs} runs each")
    for command in COMMANDS:
        runs = [run_once(config, command) for _ in range(args.runs)]
        walls, cpus = [w for w, _ in runs], [c for _, c in runs]
        print(f"mailticket {' '.join(command):<18} wall best {min(walls) * 1000:5.0f} ms, "
              f"median {statistics.median(walls) * 1000:5.0f} ms; CPU best "
              f"{min(cpus) * 1000:5.0f} ms, median {statistics.median(cpus) * 1000:5.0f} ms; "
              f"{modules(config, command)}")
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
