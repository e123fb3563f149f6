"""The benchmark still runs end to end (``python -m bench.run --size small``).

No timing is asserted: this only proves every stage works and prints its row.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.run import ROWS

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.integration
def test_small_benchmark_prints_every_row():
    proc = subprocess.run([sys.executable, "-m", "bench.run", "--size", "small"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    table = proc.stdout.split("| measure", 1)[1]
    for row in ROWS:
        line = next((x for x in table.splitlines() if x.startswith(f"| {row} ")), None)
        assert line is not None, f"row {row!r} missing:\n{table}"
        assert "FAILED" not in line, line
    # Roundup is opt-in for the small size; every other row has a number.
    measured = [x for x in table.splitlines()[2:] if x.startswith("| ")]
    skipped = [x for x in measured if "skipped" in x]
    assert all("Roundup" in x or "roundup" in x for x in skipped), skipped
    rss = next(x for x in table.splitlines() if x.startswith("| RSS at 25/50/100 %"))
    result = rss.split("|")[2]
    assert result.count(" / ") == 2 and "MB" in result, f"memory was not sampled: {rss}"
