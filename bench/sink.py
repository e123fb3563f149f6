"""``python -m bench.sink PORT``: a counting SMTP sink in its own process.

Prints ``ready`` once listening; each line ``count`` on stdin is answered with the
number of mails accepted so far; end of stdin stops it.
"""

from __future__ import annotations

import sys

from bench.common import SmtpSink


def main() -> None:
    with SmtpSink(port=int(sys.argv[1])) as sink:
        print("ready", flush=True)
        for line in sys.stdin:
            if line.strip() == "count":
                print(sink.count, flush=True)


if __name__ == "__main__":
    main()
