"""Roundup's mail gateway on the same mails: the reference point for ingest throughput.

Roundup goes into its own venv under ``bench/.cache/roundup-venv`` (git-ignored), once.
Each run makes a fresh "classic" tracker on SQLite that lets unknown senders in (the
schema's commented-out ``Anonymous`` / ``Email Access`` grant is switched on, and
Anonymous already has ``Register``), writes outgoing mail to a file instead of
sending it (``mail_debug``), and feeds the sample to ``roundup-mailgw TRACKER
mailbox FILE`` as one mbox.
"""

from __future__ import annotations

import mailbox
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

CACHE = Path(__file__).resolve().parent / ".cache"
VENV = CACHE / "roundup-venv"
ROUNDUP = "roundup==2.6.0"
_GRANT = "#db.security.addPermissionToRole('Anonymous', 'Email Access')"


@dataclass
class RoundupResult:
    count: int
    seconds: float
    startup: float
    issues: int
    messages: int
    version: str

    @property
    def per_second(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0


def ensure_installed() -> Path:
    """The venv's bin folder, installing Roundup from PyPI on first use."""
    bin_dir = VENV / "bin"
    if not (bin_dir / "roundup-mailgw").exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(bin_dir / "pip"), "install", "-q", ROUNDUP], check=True)
    return bin_dir


def _admin(bin_dir: Path, tracker: Path, *args: str) -> str:
    return subprocess.run([str(bin_dir / "roundup-admin"), "-i", str(tracker), *args],
                          check=True, capture_output=True, text=True, timeout=300).stdout


def make_tracker(bin_dir: Path, tracker: Path) -> None:
    options = ",".join([
        "mail_domain=helpdesk.example",
        f"mail_debug={tracker.parent / 'roundup-outgoing.mbox'}",
        "tracker_web=http://localhost:8917/helpdesk/",
    ])
    _admin(bin_dir, tracker, "install", "classic", "sqlite", options)
    schema = tracker / "schema.py"
    text = schema.read_text()
    if _GRANT not in text:
        raise RuntimeError("Roundup's classic schema changed: cannot allow unknown senders")
    schema.write_text(text.replace(_GRANT, _GRANT.lstrip("#")))
    _admin(bin_dir, tracker, "initialise", "bench-admin-pw")


def _count(bin_dir: Path, tracker: Path, klass: str) -> int:
    return sum(1 for line in _admin(bin_dir, tracker, "list", klass).splitlines() if line.strip())


def run(raws: list[bytes], workdir: Path) -> RoundupResult:
    bin_dir = ensure_installed()
    tracker = workdir / "roundup-tracker"
    make_tracker(bin_dir, tracker)
    gateway = [str(bin_dir / "roundup-mailgw"), str(tracker), "mailbox"]
    empty = workdir / "empty.mbox"
    mailbox.mbox(str(empty)).flush()
    start = time.perf_counter()
    subprocess.run([*gateway, str(empty)], check=True, capture_output=True, timeout=300)
    startup = time.perf_counter() - start
    box_path = workdir / "sample.mbox"
    box = mailbox.mbox(str(box_path))
    for raw in raws:
        box.add(raw)
    box.flush()
    box.close()
    start = time.perf_counter()
    subprocess.run([*gateway, str(box_path)], check=True, capture_output=True, timeout=3600)
    seconds = time.perf_counter() - start
    version = subprocess.run([str(bin_dir / "python"), "-c",
                              "import roundup; print(roundup.__version__)"],
                             capture_output=True, text=True).stdout.strip()
    return RoundupResult(len(raws), seconds, startup, _count(bin_dir, tracker, "issue"),
                         _count(bin_dir, tracker, "msg"), version)
