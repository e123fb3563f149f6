"""The daemon's memory after one big attachment (issue 14: "200 MB RSS after one 20 MB
attachment").

``python -m mailticket run`` in its own process, mail in over the embedded SMTP
listener, everything it sends to the SMTP sink of this process.  The resident set
(daemon and its children) is read once started and warm (a few small mails), after a
mail carrying a SIZE_MB attachment has been answered, and after a few small mails more.

    python -m bench.big_attachment [--size-mb 20]
"""

from __future__ import annotations

import argparse
import json
import os
import smtplib
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

from bench.common import LOCALHOST, SmtpSink, descendants, rss_mb
from tests.builders import PARIS_OFFICE, config_toml, department
from tests.mailservers import free_port

DOMAIN = "big.example"


def _config(path: Path, db: Path, smtp_port: int, listen_port: int) -> Path:
    path.write_text(config_toml(
        secret="bench-secret", database={"url": f"sqlite:///{db}"},
        outgoing={"transport": "smtp", "host": LOCALHOST, "port": smtp_port,
                  "security": "none", "interval": 0.5},
        tables={"listener": {"enabled": True, "port": listen_port}}, calendar=PARIS_OFFICE,
        departments=[department("support", DOMAIN, agents=["alice", "bob"])]))
    return path


def _mail(i: int, size: int) -> bytes:
    m = EmailMessage()
    m["From"] = f"customer{i}@cust.example"
    m["To"] = f"support@{DOMAIN}"
    m["Subject"] = f"Mail {i}"
    m["Message-ID"] = f"<big-{i}@cust.example>"
    m.set_content("Hello,\nthe file is attached.\n")
    if size:
        m.add_attachment(os.urandom(size), maintype="application", subtype="octet-stream",
                         filename="dump.bin")
    return m.as_bytes(policy=SMTP)  # CRLF: SMTP's lines


def _daemon_mb(pid: int) -> float:
    return round(rss_mb(pid) + sum(rss_mb(p) for p in descendants(pid)), 1)


def measure(size_mb: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp, SmtpSink() as sink:
        listen = free_port()
        cfg = _config(Path(tmp) / "c.toml", Path(tmp) / "db.sqlite", sink.port, listen)
        log = open(os.environ.get("BENCH_LOG", os.devnull), "wb")  # noqa: SIM115 - closed below
        proc = subprocess.Popen([sys.executable, "-m", "mailticket", "--config", str(cfg),
                                 "run"], stdout=log, stderr=subprocess.STDOUT)
        try:
            sent = 0

            def send(size: int) -> None:
                nonlocal sent
                expect = sink.count + 3  # auto-response and two notifications
                for _ in range(100):
                    try:
                        with smtplib.SMTP(LOCALHOST, listen, timeout=120) as s:
                            s.sendmail(f"customer{sent}@cust.example", [f"support@{DOMAIN}"],
                                       _mail(sent, size))
                        break
                    except ConnectionRefusedError:
                        time.sleep(0.2)  # the daemon is still starting
                sent += 1
                assert sink.wait_for(lambda s: s.count >= expect, 120), "no answer"
                time.sleep(1.5)  # the outbox's pass and the job that ran it are over

            for _ in range(3):
                send(0)
            out = {"warm_mb": _daemon_mb(proc.pid)}
            send(size_mb * 1024 * 1024)
            out["after_big_mb"] = _daemon_mb(proc.pid)
            for _ in range(3):
                send(0)
            out["after_three_more_mb"] = _daemon_mb(proc.pid)
            return out
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            log.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mb", type=int, default=20)
    args = ap.parse_args()
    print(json.dumps({"size_mb": args.size_mb, **measure(args.size_mb)}))


if __name__ == "__main__":
    main()
