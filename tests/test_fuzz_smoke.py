"""A short run of the atheris harness, so the fuzz target keeps working and the
corners it reaches in a few thousand mutations stay fixed.

Long runs are for people (see tests/fuzz_pipeline.py); this one is bounded in
runs and in seconds.  Without atheris the run is skipped, except in CI, where
atheris belongs to the test extra and missing it is a failure.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import corpora, fuzz_pipeline

HERE = Path(__file__).resolve().parent
RUNS = 3000
SECONDS = 25


def _seeds() -> list[Path]:
    """Our own sample mails, and the real-world corpora when they are cached already."""
    seeds = sorted((HERE / "data").glob("*.eml"))
    for sub in ("sdist-flufl-bounce-6.0.0/tests/data",
                f"deb-{corpora.ENMIME_DEB}/{corpora.ENMIME_TESTDATA}/low-quality"):
        seeds += sorted(p for p in (corpora.CACHE / sub).glob("*") if p.is_file())
    return seeds


def test_harness_accepts_the_seed_mails() -> None:
    """The harness' checks hold on every seed (no atheris needed): a failing seed would
    make every fuzz run stop at once, so it is worth a plain test of its own."""
    check = fuzz_pipeline.load()
    for seed in _seeds():
        check(seed.read_bytes())


def test_fuzz_parse_classify_thread_briefly(tmp_path: Path) -> None:
    if importlib.util.find_spec("atheris") is None:
        if os.environ.get("CI"):
            pytest.fail("atheris is not installed; it is part of the test extra")
        pytest.skip("atheris not installed (pip install atheris)")
    corpus, seeds, artifacts = tmp_path / "corpus", tmp_path / "seeds", tmp_path / "crash"
    for d in (corpus, seeds, artifacts):
        d.mkdir()
    for i, p in enumerate(_seeds()):  # one folder: libFuzzer reads seeds from directories
        (seeds / f"{i:04d}-{p.name}").write_bytes(p.read_bytes())
    dictionary = tmp_path / "mail.dict"
    fuzz_pipeline.write_dict(str(dictionary))
    cmd = [sys.executable, str(HERE / "fuzz_pipeline.py"), f"-runs={RUNS}",
           f"-max_total_time={SECONDS}", "-max_len=20000", "-timeout=10", "-rss_limit_mb=2048",
           f"-dict={dictionary}", f"-artifact_prefix={artifacts}/", "-print_final_stats=1",
           str(corpus), str(seeds)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=SECONDS + 60,
                       cwd=tmp_path, stdin=subprocess.DEVNULL)
    crashes = [(p.name, p.read_bytes()[:2000]) for p in artifacts.iterdir()]
    tail = "\n".join(r.stderr.splitlines()[-40:])
    assert r.returncode == 0 and not crashes, f"exit {r.returncode}\n{tail}\ninputs: {crashes}"
    done = [line for line in r.stderr.splitlines() if line.startswith("Done ")]
    print("\n" + (done[-1] if done else tail))
