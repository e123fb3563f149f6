"""Pieces every benchmark stage shares: the SMTP sink, the helpdesk config, machine facts."""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.builders import ONE_DAY, PARIS_OFFICE, config_toml, department
from tests.mailservers import Dovecot, free_port

LOCALHOST = "127.0.0.1"
_IN_REPLY_TO = re.compile(rb"(?mi)^In-Reply-To:[ \t]*(<[^>\r\n]*>)")


@dataclass(frozen=True)
class Arrival:
    """One mail the sink accepted: when (time.monotonic), to whom, in reply to what."""

    at: float
    rcpts: tuple[str, ...]
    in_reply_to: str | None


class _SinkHandler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        at = time.monotonic()
        raw = envelope.original_content or b""
        head = raw.split(b"\r\n\r\n", 1)[0]
        match = _IN_REPLY_TO.search(head)
        self.sink.record(Arrival(at, tuple(envelope.rcpt_tos),
                                 match.group(1).decode() if match else None))
        return "250 2.0.0 OK"


class SmtpSink:
    """An aiosmtpd server that accepts everything and only counts (and, when asked,
    records arrival time and In-Reply-To).  Runs in a thread of this process."""

    def __init__(self, *, record: bool = False, port: int | None = None) -> None:
        self.port = port or free_port()
        self.keep = record
        self.count = 0
        self.arrivals: list[Arrival] = []
        self._cond = threading.Condition()
        self._controller = Controller(_SinkHandler(self), hostname=LOCALHOST, port=self.port,
                                      server_hostname="bench-sink", ready_timeout=10.0)

    def record(self, arrival: Arrival) -> None:
        with self._cond:
            self.count += 1
            if self.keep:
                self.arrivals.append(arrival)
            self._cond.notify_all()

    def wait_for(self, predicate: Any, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout)

    def __enter__(self) -> SmtpSink:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()


class SinkProcess:
    """The counting sink in processes of its own (``python -m bench.sink``), so that
    measuring the sender's rate does not share one GIL with the server it sends to.
    ``processes`` sinks listen on one port (``SO_REUSEPORT``), so that a sender with
    several connections is not held to one sink's core.  ``count`` asks each over its
    stdin how many mails it has accepted; ``cpu`` their CPU seconds."""

    def __init__(self, processes: int = 1, aiosmtpd: bool = False) -> None:
        self.port = free_port()
        self.processes = processes
        self.aiosmtpd = aiosmtpd
        self._procs: list[subprocess.Popen[str]] = []

    def _ask(self, what: str) -> list[str]:
        for proc in self._procs:
            assert proc.stdin is not None
            proc.stdin.write(what + "\n")
            proc.stdin.flush()
        answers = []
        for proc in self._procs:
            assert proc.stdout is not None
            answers.append(proc.stdout.readline())
        return answers

    @property
    def count(self) -> int:
        return sum(int(a) for a in self._ask("count"))

    @property
    def cpu(self) -> float:
        return sum(float(a) for a in self._ask("cpu"))

    def __enter__(self) -> SinkProcess:
        for _ in range(self.processes):
            proc = subprocess.Popen(
                [sys.executable, "-m", "bench.sink", str(self.port),
                 *(["--aiosmtpd"] if self.aiosmtpd else [])], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parent.parent)
            self._procs.append(proc)
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "ready":
                self.__exit__()
                raise RuntimeError("SMTP sink process did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self._procs:
            with contextlib.suppress(OSError):
                assert proc.stdin is not None
                proc.stdin.close()
        for proc in self._procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._procs = []


def write_config(path: Path, *, dovecot: Dovecot, domain: str, db: Path, smtp_port: int,
                 idle: bool = False, poll_interval: float = 60.0,
                 outbox_interval: float = 5.0, parse_workers: int | None = None) -> Path:
    """A two-department helpdesk on the private Dovecot (support@ has the IMAP mailbox),
    sending everything to the SMTP sink."""
    imap = {"host": LOCALHOST, "port": dovecot.imap_port, "security": "none",
            "username": f"support@{domain}", "password": Dovecot.PASSWORD,
            "poll_interval": poll_interval, "idle": idle, "timeout": 60}
    path.write_text(config_toml(
        secret=f"bench-secret-{domain}", instance="mailticket-bench",
        database={"url": f"sqlite:///{db}"},
        outgoing={"transport": "smtp", "host": LOCALHOST, "port": smtp_port,
                  "security": "none", "interval": outbox_interval},
        calendar=PARIS_OFFICE, sla={**ONE_DAY, "escalation": ["1 business day"]},
        tables=None if parse_workers is None else {"ingest": {"parse_workers": parse_workers}},
        departments=[
            department("support", domain, display_name="Bench Support", agents=["alice", "bob"],
                       escalate_to=["lead"], imap=imap),
            department("sales", domain, display_name="Bench Sales", agents=["carol"])]))
    return path


def log_to_file(path: Path) -> None:
    """INFO to a file, as the daemon logs: its cost is part of what is measured."""
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    for noisy in ("mail.log", "aiosmtpd", "imapclient", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _status_mb(field: str, pid: int | str = "self") -> float:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except FileNotFoundError:  # the process is gone
        pass
    return 0.0


def rss_mb(pid: int | str = "self") -> float:
    """Current resident set size of a process (this one by default), from /proc."""
    return _status_mb("VmRSS", pid)


def peak_rss_mb(pid: int | str = "self") -> float:
    return _status_mb("VmHWM", pid)


def descendants(pid: int | None = None) -> list[int]:
    """Every process below this one (or ``pid``): parse workers, and the fork server and
    resource tracker that multiprocessing starts with them; all of it is the daemon's
    memory."""
    parent = os.getpid() if pid is None else pid
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError), \
                    open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [parent]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def machine() -> dict[str, str]:
    """The facts docs/benchmarks.md asks for, read from this machine."""
    cpu = "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "?"
    with contextlib.suppress(OSError), open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    dovecot = "?"
    with contextlib.suppress(Exception):
        binary = "/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else "dovecot"
        dovecot = subprocess.run([binary, "--version"], capture_output=True, text=True,
                                 timeout=10).stdout.split()[0]
    return {"nproc": str(os.cpu_count()), "cpu": cpu, "ram": mem,
            "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
            "dovecot": dovecot}


@contextlib.contextmanager
def timer() -> Iterator[list[float]]:
    """``with timer() as t: ...`` then ``t[0]`` is the elapsed seconds."""
    box: list[float] = []
    start = time.perf_counter()
    try:
        yield box
    finally:
        box.append(time.perf_counter() - start)
