"""Reaction time: mail appended to the mailbox → auto-response accepted by the SMTP server.

The daemon runs as it does in production (``python -m mailticket --config X run``,
its own process, IDLE on, a 60 s safety poll) and sends to the recording sink of
this process.  Mails are appended one at a time over one IMAP connection; the clock
starts when APPEND returns and stops when the sink accepts a mail to that customer
whose In-Reply-To is the appended Message-ID (the agents' notifications carry the
same In-Reply-To, hence the recipient check).  Every sample is a new ticket from a
new sender, so the auto-response limit per sender never applies.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import corpus
from bench.common import SmtpSink, write_config
from tests.mailservers import Dovecot

_FROM = re.compile(rb"(?m)^(From: [^\n]*<)([^>\n]+)(>)")
_MID = re.compile(rb"(?mi)^Message-ID: (<[^>\n]+>)")


@dataclass
class ReactionResult:
    samples: list[float] = field(default_factory=list)
    timeouts: int = 0
    idle_floor: float = float("nan")

    def percentile(self, p: float) -> float:
        """Nearest-rank percentile in seconds (no interpolation on few samples)."""
        if not self.samples:
            return float("nan")
        ordered = sorted(self.samples)
        rank = max(1, -(-len(ordered) * p // 100))
        return ordered[int(rank) - 1]


def _samples(n: int, seed: int, domain: str) -> list[tuple[bytes, str, str]]:
    """n first-contact customer mails, each from its own address: (raw, sender, Message-ID)."""
    out: list[tuple[bytes, str, str]] = []
    for i, (kind, raw) in enumerate(corpus.iter_corpus(n * 3, seed=seed, domain=domain)):
        if kind != "customer" or len(out) == n:
            continue
        sender = f"reaction{i}@customer.example"
        raw = _FROM.sub(lambda m, s=sender: m.group(1) + s.encode() + m.group(3), raw, count=1)
        raw = re.sub(rb"(?m)^Return-Path: <[^>\n]*>", f"Return-Path: <{sender}>".encode(), raw,
                     count=1)
        match = _MID.search(raw)
        assert match is not None
        out.append((raw, sender, match.group(1).decode()))
    if len(out) < n:
        raise RuntimeError(f"corpus gave only {len(out)} first-contact mails")
    return out


def idle_floor(dovecot: Dovecot, user: str, raws: list[bytes]) -> float:
    """Median delay between APPEND returning and the server's EXISTS on an IDLE
    connection: the part of the reaction time that belongs to the IMAP server."""
    delays = []
    with dovecot.client(user) as watcher, dovecot.client(user) as writer:
        watcher.select_folder("INBOX", readonly=True)
        watcher.idle()
        for raw in raws:
            writer.append("INBOX", raw)
            appended = time.monotonic()
            if watcher.idle_check(timeout=10):
                delays.append(time.monotonic() - appended)
        watcher.idle_done()
    return statistics.median(delays) if delays else float("nan")


def measure(dovecot: Dovecot, workdir: Path, n: int, seed: int = 7,
            timeout: float = 15.0) -> ReactionResult:
    domain = "reaction.example"
    user = f"support@{domain}"
    dovecot.seed_inbox(user, [])  # the mailbox exists before the daemon selects it
    samples = _samples(n + 2, seed, domain)
    result = ReactionResult()
    # Measured on a mailbox of its own, so the daemon starts with an empty one.
    result.idle_floor = idle_floor(dovecot, f"idle-probe@{domain}",
                                   [raw for raw, _, _ in samples[:5]])
    with SmtpSink(record=True) as sink:
        config = write_config(workdir / "reaction.toml", dovecot=dovecot, domain=domain,
                              db=workdir / "reaction.db", smtp_port=sink.port, idle=True,
                              poll_interval=60.0, outbox_interval=5.0)
        log = open(workdir / "reaction-daemon.log", "wb")  # noqa: SIM115 - closed below
        daemon = subprocess.Popen(
            [sys.executable, "-m", "mailticket", "--config", str(config), "run"],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            with dovecot.client(user) as client:
                for i, (raw, sender, mid) in enumerate(samples):
                    def answered(s: SmtpSink, mid: str = mid, sender: str = sender) -> bool:
                        return any(a.in_reply_to == mid and sender in a.rcpts
                                   for a in s.arrivals[-20:])

                    client.append("INBOX", raw)
                    appended = time.monotonic()
                    # The first two warm the daemon up (start, IDLE connect); not counted.
                    wait = 60.0 if i < 2 else timeout
                    if not sink.wait_for(answered, wait):
                        if i < 2:
                            raise RuntimeError("the daemon never answered; see "
                                               f"{workdir / 'reaction-daemon.log'}")
                        result.timeouts += 1
                        continue
                    arrival = next(a.at for a in reversed(sink.arrivals)
                                   if a.in_reply_to == mid and sender in a.rcpts)
                    if i >= 2:
                        result.samples.append(arrival - appended)
        finally:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(30)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
            with contextlib.suppress(OSError):
                log.close()
    return result
