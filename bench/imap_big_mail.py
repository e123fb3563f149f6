"""What a big attachment fetched over IMAP leaves resident, with and without the poller's
trim after each batch (``memory.trim_heap``).

Each variant runs in a fresh process (``python -m bench.imap_big_mail --one trim|keep``):
a private Dovecot, a fresh SQLite app, ``ImapPoller.poll_once`` in that process (parse
workers off, so everything is in the one process measured), three small mails to warm
up, then one mail with a SIZE_MB attachment, then three small mails more.  VmRSS is read
after each poll.

    python -m bench.imap_big_mail [--size-mb 20]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.big_attachment import DOMAIN
from bench.big_attachment import _mail as mail_of  # the same mails as over SMTP
from bench.common import rss_mb, write_config
from bench.ingest import make_app
from tests.mailservers import Dovecot


def one(variant: str, size_mb: int) -> dict[str, float]:
    from mailticket.ingest import imap

    if variant == "keep":
        imap.trim_heap = lambda size: None  # as before: the poller never trims
    with tempfile.TemporaryDirectory() as tmp, Dovecot(Path(tmp) / "dovecot") as dovecot:
        cfg = write_config(Path(tmp) / "c.toml", dovecot=dovecot, domain=DOMAIN,
                           db=Path(tmp) / "db.sqlite", smtp_port=9, parse_workers=0)
        app = make_app(cfg)
        poller = imap.ImapPoller(app, app.config.department("support"))
        sent = 0

        def deliver(size: int) -> None:
            nonlocal sent
            dovecot.append(f"support@{DOMAIN}", mail_of(sent, size))
            sent += 1
            assert poller.poll_once() == 1

        for _ in range(3):
            deliver(0)
        out = {"warm_mb": round(rss_mb(), 1)}
        deliver(size_mb * 1024 * 1024)
        out["after_big_mb"] = round(rss_mb(), 1)
        for _ in range(3):
            deliver(0)
        out["after_three_more_mb"] = round(rss_mb(), 1)
        app.close()
        return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mb", type=int, default=20)
    ap.add_argument("--one", choices=("trim", "keep"))
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.size_mb)))
        return
    result: dict[str, object] = {"size_mb": args.size_mb}
    for variant in ("keep", "trim"):
        run = subprocess.run([sys.executable, "-m", "bench.imap_big_mail", "--one", variant,
                              "--size-mb", str(args.size_mb)],
                             capture_output=True, text=True, check=True)
        result[variant] = json.loads(run.stdout.strip().splitlines()[-1])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
