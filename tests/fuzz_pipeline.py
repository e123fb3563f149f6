"""Coverage-guided fuzzing of the pure front of the pipeline: parse → classify → find_ticket.

Why: these three functions see every byte a stranger sends, and the daemon's
promise is that no byte string takes it down.  Hypothesis (tests/test_corpora.py)
generates structured mail; libFuzzer via atheris mutates real mail byte by byte
and follows coverage into the corners nobody thought of.  No database: the
threading rules get an in-memory lookup, so one run is fast.

Besides "never raises", each input is checked against what the rest of the code
relies on: the raw bytes are kept, the Message-ID is one clean token, and no
text that may reach a header we send, a log line or a file name carries a
control character.

Run by hand (atheris is in the test extra):
    python tests/fuzz_pipeline.py -max_total_time=600 -dict=<dict> <corpus-dir> tests/data
``tests/test_fuzz_smoke.py`` runs it briefly on every test run.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable, Sequence

SECRET = b"f" * 32
OWN = frozenset({"support@example.com", "sales@example.com"})

#: libFuzzer dictionary entries: the tokens mail structure hinges on.
TOKENS = [
    b"From: ", b"To: ", b"Cc: ", b"Subject: ", b"Message-ID: ", b"In-Reply-To: ",
    b"References: ", b"Return-Path: <>", b"Auto-Submitted: auto-replied", b"Precedence: bulk",
    b"List-Id: ", b"X-Mailticket-Loop: ", b"Content-Type: ", b"multipart/mixed",
    b"multipart/alternative", b"multipart/report", b"report-type=delivery-status",
    b"message/delivery-status", b"message/rfc822", b"text/rfc822-headers", b"text/html",
    b"boundary=", b'boundary="', b"\r\n--", b"--\r\n", b"charset=", b"=?utf-8?q?",
    b"=?utf-8?b?", b"=?iso-2022-jp?b?", b"?=", b"Content-Transfer-Encoding: base64",
    b"quoted-printable", b"Content-Disposition: attachment; filename=", b"filename*=utf-8''",
    b"Final-Recipient: rfc822;", b"Action: failed", b"X-Failed-Recipients: ",
    b"support@example.com", b"support+1-", b"[Support #1]", b"Re: ", b"AW: ", b"\r\n\r\n",
    b"\x00", b"\xe2\x80\xa8", b"\xc2\x85",
]

_BAD = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")

#: Checks that fail on the package today (reported to the lead); remove an entry
#: once it is fixed so the fuzzer guards it again.
KNOWN_ISSUES: set[str] = set()


class FakeLookups:
    """Tickets 1-3 exist; ids containing "known" belong to 1; everybody is on ticket 2."""

    def ticket_for_message_ids(self, ids: Sequence[str]) -> int | None:
        return 1 if any("known" in i for i in ids) else None

    def ticket_exists(self, ticket_id: int) -> bool:
        return ticket_id in (1, 2, 3)

    def is_participant(self, ticket_id: int, address: str) -> bool:
        return ticket_id == 2


def _clean(what: str, values: Iterable[str | None]) -> None:
    if what in KNOWN_ISSUES:
        return
    for v in values:
        if v is not None and _BAD.search(v):
            raise AssertionError(f"control character in {what}: {v!r}")


def load() -> Callable[[bytes], None]:
    """Import the code under test (inside atheris' instrumentation when fuzzing)."""
    from mailticket.incoming.classify import Verdict, classify
    from mailticket.incoming.message_ids import MAX_ID_LEN
    from mailticket.incoming.parse import parse
    from mailticket.incoming.threading import Decision, find_ticket
    from mailticket.outgoing.compose import LOOP_HEADER

    lookups = FakeLookups()

    def check(data: bytes) -> None:
        mail = parse(data)
        assert mail.raw == data, "raw bytes not kept"
        mid = mail.message_id
        assert mid.startswith("<") and mid.endswith(">") and len(mid) <= MAX_ID_LEN + 2, mid
        assert not re.search(r"\s", mid), f"whitespace in Message-ID {mid!r}"
        _clean("Message-ID", [mid, *mail.in_reply_to, *mail.references,
                              *mail.original_message_ids])
        _clean("subject", [mail.subject])
        people = [a for a in [mail.from_, mail.sender, *mail.reply_to, *mail.to, *mail.cc] if a]
        _clean("address", [a.addr for a in people] + [a.key for a in people])
        _clean("display name", [a.name for a in people])
        _clean("recipient", [*mail.delivered_to, *mail.bounced_recipients,
                             mail.return_path])
        for att in mail.attachments:
            name = att.filename
            _clean("file name", [name])
            _clean("content id", [att.content_id])
            _clean("content type", [att.content_type])
            assert not (set(name) & set("/\\")) and name not in (".", ".."), name
        verdict = classify(mail, OWN, LOOP_HEADER)
        assert isinstance(verdict, Verdict)
        decision = find_ticket(
            recipients=[*(a.key for a in mail.all_recipients()), *mail.delivered_to],
            in_reply_to=mail.in_reply_to, references=mail.references, subject=mail.subject,
            sender=mail.from_.key if mail.from_ else None, own_addresses=OWN,
            secret=SECRET, lookups=lookups)
        assert isinstance(decision, Decision)
        assert decision.ticket_id in (None, 1, 2, 3), decision

    return check


def write_dict(path: str) -> None:
    """Write TOKENS as a libFuzzer dictionary file."""
    with open(path, "w") as fh:
        for t in TOKENS:
            fh.write('"' + "".join(chr(b) if 0x20 <= b < 0x7F and b not in b'"\\'
                                   else f"\\x{b:02x}" for b in t) + '"\n')


def main() -> None:
    import atheris

    with atheris.instrument_imports():
        check = load()
    atheris.Setup(sys.argv, check)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
