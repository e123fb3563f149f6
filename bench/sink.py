"""``python -m bench.sink PORT [--aiosmtpd]``: a counting SMTP sink in its own process.

Prints ``ready`` once listening; each line ``count`` on stdin is answered with the
number of mails accepted so far, ``cpu`` with this process's CPU seconds (user +
system); end of stdin stops it.  Several of these may listen on one port
(``SO_REUSEPORT``): the kernel spreads the sender's connections over them.

The default server is a lean one that only speaks the SMTP a sender needs (EHLO,
MAIL, RCPT, DATA, RSET, NOOP, QUIT; PIPELINING offered) and counts the mails it is
given: aiosmtpd spent 1.3–1.6 ms of CPU a mail here, this one ~0.3 ms, so a benchmark
of the daemon's sending measured the sink instead (docs/benchmarks.md).  ``--aiosmtpd``
runs aiosmtpd instead, for comparison.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import threading
from typing import Any

from bench.common import LOCALHOST

EHLO = b"250-bench-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
END = b"\r\n.\r\n"


class LeanSmtp(asyncio.Protocol):
    """Accept everything, count each mail at its end of data; answers in one write per
    received chunk, so pipelined commands cost one round trip."""

    count = 0

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.buf = b""
        self.in_data = False
        transport.write(b"220 bench-sink ESMTP\r\n")

    def data_received(self, chunk: bytes) -> None:
        buf, out = self.buf + chunk, []
        while True:
            if self.in_data:
                end = buf.find(END)
                if end < 0:
                    buf = buf[-4:]  # the end marker may straddle two chunks
                    break
                buf, self.in_data = buf[end + len(END):], False
                LeanSmtp.count += 1
                out.append(b"250 2.0.0 OK\r\n")
                continue
            nl = buf.find(b"\r\n")
            if nl < 0:
                break
            verb, buf = buf[:4].upper(), buf[nl + 2:]
            if verb == b"EHLO":
                out.append(EHLO)
            elif verb == b"DATA":
                # An empty mail's "." comes right away: it needs the CRLF before it.
                buf, self.in_data = b"\r\n" + buf, True
                out.append(b"354 end with <CRLF>.<CRLF>\r\n")
            elif verb == b"QUIT":
                self.transport.write(b"".join(out) + b"221 bye\r\n")
                self.transport.close()
                return
            else:
                out.append(b"250 OK\r\n")
        self.buf = buf
        if out:
            self.transport.write(b"".join(out))


def _listen(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((LOCALHOST, port))
    sock.listen(128)
    return sock


def main() -> None:
    port, kind = int(sys.argv[1]), "aiosmtpd" if "--aiosmtpd" in sys.argv else "lean"
    counted: Any = LeanSmtp
    loop = asyncio.new_event_loop()
    if kind == "lean":
        factory: Any = LeanSmtp
    else:
        from aiosmtpd.smtp import SMTP, Envelope, Session

        class Counter:
            count = 0

            async def handle_DATA(self, server: SMTP, session: Session,
                                  envelope: Envelope) -> str:
                Counter.count += 1
                return "250 2.0.0 OK"

        counted = Counter

        def factory() -> SMTP:
            return SMTP(Counter(), hostname="bench-sink", ident="bench-sink")
    server = loop.run_until_complete(loop.create_server(factory, sock=_listen(port)))
    threading.Thread(target=loop.run_forever, daemon=True).start()
    print("ready", flush=True)
    for line in sys.stdin:
        what = line.strip()
        if what == "count":
            print(counted.count, flush=True)
        elif what == "cpu":
            times = os.times()
            print(times.user + times.system, flush=True)
    loop.call_soon_threadsafe(server.close)


if __name__ == "__main__":
    main()
