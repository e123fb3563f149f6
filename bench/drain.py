"""``python -m bench.drain CONFIG TOTAL``: drain a department's backlog in a fresh process
and report its memory, so nothing of the benchmark itself is counted.

One ``ImapPoller.poll_once`` handles the whole backlog, as a daemon that starts in
front of a full mailbox would.  ``App.ingest_batch`` is wrapped (in this process only) to
count mails; at 25 %, 50 % and 100 % of TOTAL the resident set (VmRSS) is noted, of
this process and of every process below it (its parse worker).  The last line printed
is JSON: count, seconds, the marks and the peaks (VmHWM, this process and the workers
together).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import descendants, log_to_file, peak_rss_mb, rss_mb
from bench.ingest import make_app
from mailticket.ingest.imap import ImapPoller


def _name(pid: int) -> str:
    """Which process below the daemon this is, for the table: "worker 1234"."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            worker = b"mailticket.ingest.workers" in fh.read()
    except OSError:
        worker = False
    return f"{'worker' if worker else 'process'} {pid}"


def main() -> None:
    config, total = Path(sys.argv[1]), int(sys.argv[2])
    log_to_file(config.with_suffix(".log"))
    app = make_app(config, apart=True)  # as `mailticket run` starts
    marks = {max(1, total // 4): "25%", max(1, total // 2): "50%", total: "100%"}
    seen: dict[str, Any] = {"count": 0, "rss": {}}
    inner = app.ingest_batch
    start = time.perf_counter()

    def counting(items: Any, **kwargs: Any) -> Any:
        outcomes = inner(items, **kwargs)
        before = seen["count"]
        seen["count"] += len(items)
        for at, label in marks.items():  # a mark passed inside this batch
            if before < at <= seen["count"]:
                workers = sum(rss_mb(pid) for pid in descendants())
                seen["rss"][label] = {"mails": seen["count"], "rss_mb": round(rss_mb(), 1),
                                      "workers_mb": round(workers, 1),
                                      "seconds": round(time.perf_counter() - start, 1)}
                seen["workers_peak"] = max(seen.get("workers_peak", 0.0), sum(
                    peak_rss_mb(pid) for pid in descendants()))
                print(json.dumps({"mark": label, **seen["rss"][label]}), flush=True)
        return outcomes

    app.ingest_batch = counting  # type: ignore[method-assign]
    baseline = rss_mb()
    handled = ImapPoller(app, app.config.department("support")).poll_once()
    seconds = time.perf_counter() - start
    below = {pid: round(peak_rss_mb(pid), 1) for pid in descendants()}
    workers_peak = max(seen.get("workers_peak", 0.0), sum(below.values()))
    print(json.dumps({"count": handled, "seconds": seconds, "baseline_mb": round(baseline, 1),
                      "marks": seen["rss"], "peak_mb": round(peak_rss_mb(), 1),
                      "workers_peak_mb": round(workers_peak, 1),
                      "below_mb": {_name(pid): mb for pid, mb in below.items()}}), flush=True)
    app.close()


if __name__ == "__main__":
    main()
