"""`mailticket staffing` over the report benchmark's year of 1,000,000 tickets, timed as
the admin runs it (a process, start included): the last 4 weeks replayed.

    python -m bench.staffing [--tickets 1000000] [--folder /tmp/report-bench]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench.report import database, timed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tickets", type=int, default=1_000_000)
    ap.add_argument("--folder", type=Path, default=None,
                    help="build the database here once and reuse it (default: a new temp dir)")
    args = ap.parse_args()
    folder = args.folder or Path(tempfile.mkdtemp(prefix="bench-staffing-"))
    config = database(args.tickets, folder)
    for weeks in (4, 12):
        print(f"staffing --json, last {weeks} weeks: "
              f"{timed(config, 'staffing', '--weeks', str(weeks), '--json')}")


if __name__ == "__main__":
    main()
