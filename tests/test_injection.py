"""Header injection through customer mail, checked on what mailticket actually sends.

A customer controls the display names, subject, addresses and attachment names
that end up in our auto-response, in the agents' notifications and in relayed
answers.  If a CR/LF (raw, RFC 2047-encoded, RFC 2231-encoded, or a Unicode
line separator that some software treats as one) survived into one of those
headers, a stranger could add a Bcc and use the helpdesk as a spam relay, or
forge headers in mail signed by our domain.  So each attack runs through the
real pipeline in-process, outgoing mail goes to the maildir transport, and
every written file is read back and checked: header syntax, no extra headers,
exactly the expected envelope recipients (the ``X-Mailticket-Envelope-To``
lines), and attachment names that are names, never paths.  An audit hook also
proves that no file is written outside the test's temporary folder.
"""

from __future__ import annotations

import email
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from mailticket.app import App
from tests import corpora
from tests.builders import reply

DOMAIN = corpora.HELPDESK_DOMAIN
SUPPORT = f"support@{DOMAIN}"
AGENTS = (f"alice@{DOMAIN}", f"bob@{DOMAIN}")

# Headers any mail we send may carry; anything else was put there by someone else.
# (When outgoing/compose.py learns a new header, add it here.)
ALLOWED = {
    "x-mailticket-envelope-from", "x-mailticket-envelope-to", "from", "to", "cc", "reply-to",
    "subject", "date", "message-id", "in-reply-to", "references", "auto-submitted",
    "x-auto-response-suppress", "x-mailticket-loop", "content-language", "mime-version",
    "content-type", "content-transfer-encoding", "content-disposition",
}
# Names the attacks try to create.
FORBIDDEN = {"bcc", "x-injected", "x-evil", "content-type-evil"}

CRLF_Q = "=0D=0A"
LONG = "A" * 3000
CRLF_BCC = "a\r\nBcc: b@evil.test"


@dataclass(frozen=True)
class Attack:
    """One hostile customer mail: extra raw header lines, attachments, expected recipients."""

    name: str
    headers: tuple[bytes, ...] = ()
    from_: bytes = b""
    cc: bytes = b""
    filenames: tuple[bytes, ...] = ()  # raw Content-Disposition parameter text
    parts: tuple[bytes, ...] = ()  # raw Content-Type lines of extra attachments
    customer: str = ""  # the address the auto-response must go to (default: c-<name>@…)
    cc_expected: tuple[str, ...] = ()


def _q(text: str) -> str:
    """An RFC 2047 Q-encoded word of ``text`` (every byte outside a-z0-9 escaped)."""
    data = text.encode("utf-8")
    return "=?utf-8?q?" + "".join(
        chr(b) if chr(b).isalnum() and b < 0x80 else f"={b:02X}" for b in data) + "?="


def _addr(name: str) -> str:
    return f"c-{name}@cust.test"


ATTACKS = [
    # --- display name of From ---------------------------------------------------
    Attack("name-ew-crlf-bcc", from_=f"=?utf-8?q?Eve{CRLF_Q}Bcc:_victim@evil.test?= <{{a}}>"
           .encode()),
    Attack("name-ew-b64-lf", from_=b"=?utf-8?b?RXZlCkJjYzogdmljdGltQGV2aWwudGVzdA==?= <{a}>"),
    Attack("name-ew-cr-only", from_=b"=?utf-8?q?Eve=0DX-Injected:_1?= <{a}>"),
    Attack("name-raw-nul", from_=b"Ev\x00e <{a}>"),
    Attack("name-controls", from_=b'"E\x0bv\x0ce\x1b[31m\x7f\x08" <{a}>'),
    Attack("name-u2028-u0085", from_="Eve\u2028Bcc: x@evil.test\u0085X-Evil: 1 <{a}>"
           .encode()),
    Attack("name-ew-u2028", from_=(_q("Eve\u2028Bcc: x@evil.test\u2029X-Evil: 1") + " <{a}>")
           .encode()),
    Attack("name-ew-latin1-nel", from_=b"=?iso-8859-1?q?Eve=85X-Evil:_1?= <{a}>"),
    Attack("name-very-long", from_=f"{LONG} <{{a}}>".encode()),
    Attack("name-very-long-ew", from_=(" ".join([_q("Ünïcødé" * 10)] * 60) + " <{a}>").encode()),
    Attack("name-ew-extra-address",
           from_=f"=?utf-8?q?x_<evil@evil.test>,_y@evil.test{CRLF_Q}?= <{{a}}>".encode()),
    Attack("name-ew-header-in-quotes", from_=('"' + _q(CRLF_BCC) + '" <{a}>').encode()),
    # --- Subject -----------------------------------------------------------------
    Attack("subject-ew-crlf", headers=(f"Subject: =?utf-8?q?hi{CRLF_Q}Bcc:_evil@evil.test?="
                                       .encode(),)),
    Attack("subject-ew-body", headers=(
        f"Subject: =?utf-8?q?hi{CRLF_Q}{CRLF_Q}X-Injected:_1?=".encode(),)),
    Attack("subject-raw-controls", headers=(b"Subject: hi\x00there\x0b\x1b\x7fX-Evil: 1",)),
    Attack("subject-unicode-separators", headers=(
        "Subject: a\u2028Bcc: x@evil.test\u2029b\u0085X-Evil: 1".encode(),)),
    Attack("subject-ew-unicode-separators", headers=(
        ("Subject: " + _q("a\u2028Bcc: x@evil.test\u0085X-Evil: 1")).encode(),)),
    Attack("subject-very-long", headers=(f"Subject: {LONG}".encode(),)),
    Attack("subject-very-long-words", headers=(("Subject: " + " ".join(["wörd"] * 2000))
                                               .encode(),)),
    # --- addresses ---------------------------------------------------------------
    Attack("from-two-addresses", from_=b"<{a}>, <evil@evil.test>"),
    Attack("addr-nul", from_=b"Eve <c-addr-nul\x00@cust.test>", customer="c-addr-nul@cust.test"),
    Attack("addr-u2028", from_="Eve <c-addr-u2028\u2028@cust.test>".encode(),
           customer="c-addr-u2028@cust.test"),
    Attack("addr-quoted-comma", from_=b'Eve <"evil@evil.test,c"@cust.test>',
           customer='"evil@evil.test,c"@cust.test'),
    Attack("reply-to-ew-crlf", headers=(
        f"Reply-To: =?utf-8?q?r{CRLF_Q}Bcc:_x@evil.test?= <r@evil.test>".encode(),)),
    Attack("cc-names", cc=(f"=?utf-8?q?Mal{CRLF_Q}Bcc:_x@evil.test?= <m1@cust.test>, "
                           "Mal\u2028X-Evil: 1 <m2@cust.test>, "
                           f"{LONG} <m3@cust.test>").encode(),
           cc_expected=("m1@cust.test", "m2@cust.test", "m3@cust.test")),
    Attack("in-reply-to-ew", headers=(
        f"In-Reply-To: =?utf-8?q?<x@y>{CRLF_Q}Bcc:_x@evil.test?=".encode(),
        b"References: <a@b>\x00<c@d>\x0bX-Evil: 1")),
    # --- attachment file names ---------------------------------------------------
    Attack("filenames", filenames=(
        b'filename="../../etc/passwd"',
        b'filename="C:\\\\x\\\\y.exe"',
        b"filename*=utf-8''a%0D%0ABcc%3A%20x%40evil.test",
        ('filename="' + _q(CRLF_BCC) + '"').encode(),
        b'filename="..\\\\..\\\\mt-escape-win.txt"',
        b'filename="/tmp/mt-escape-abs.txt"',
        b'filename="a\x00b\x85c.txt"',
        b'filename="' + b"n" * 400 + b'.txt"',
        b"filename*0*=utf-8''..%2F..%2F; filename*1=mt-escape-2231.txt",
    )),
    Attack("attachment-content-type", parts=(
        b"Content-Type: application/x\x00\x1b\x0b; name=a.bin",
        b'Content-Type: application/x X-Injected: 1"; name="b.bin',
        b"Content-Type: text/x\r\n X-Injected: 1",
    )),
    Attack("filename-bidi-override", filenames=('filename="\u202egnp.exe"'.encode(),)),
    Attack("filename-dotdot", filenames=(b'filename=".."', b"filename*=utf-8''%2E%2E")),
]

# Cases that fail on the package today; strict, so a fix turns them into a failure
# that asks for the marker to go.  Each is in the report to the lead.
KNOWN_BUGS: dict[str, str] = {}  # all fixed; a new finding goes here as a strict xfail


def _customer(a: Attack) -> str:
    return a.customer or _addr(a.name)


def _build(a: Attack) -> bytes:
    """The raw hostile mail (bytes, because half the attacks are not valid RFC 5322)."""
    addr = _customer(a)
    from_ = (a.from_ or b"Jane <{a}>").replace(b"{a}", addr.encode())
    lines = [b"From: " + from_, f"To: {SUPPORT}".encode(),
             f"Message-ID: <{a.name}@cust.test>".encode(),
             b"Date: Mon, 23 Nov 2026 10:00:00 +0100"]
    if a.cc:
        lines.append(b"Cc: " + a.cc)
    lines += list(a.headers)
    if not any(h.lower().startswith(b"subject:") for h in a.headers):
        lines.append(b"Subject: Printer trouble")
    lines += [b"MIME-Version: 1.0", b'Content-Type: multipart/mixed; boundary="BB"', b"",
              b"--BB", b"Content-Type: text/plain; charset=utf-8", b"",
              b"Hello, please help.", b"Bcc: this line is body text, not a header"]
    for i, param in enumerate(a.filenames):
        lines += [b"--BB", b"Content-Type: application/octet-stream",
                  b"Content-Disposition: attachment; " + param,
                  b"Content-Transfer-Encoding: base64", b"", b"aGVsbG8gd29ybGQ=" if i else b""]
    for ctype in a.parts:
        lines += [b"--BB", ctype, b"Content-Disposition: attachment", b"", b"data"]
    lines.append(b"--BB--")
    return b"\r\n".join(lines) + b"\r\n"


# -- reading what was sent --------------------------------------------------------

@dataclass
class Sent:
    path: Path
    envelope_to: list[str]
    headers: list[tuple[str, str]]  # unfolded, raw
    message: EmailMessage
    problems: list[str] = field(default_factory=list)


_NAME_RE = re.compile(r"^[!-9;-~]+$")
_BAD_IN_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]")


def _header_block(data: bytes, where: str, problems: list[str]) -> list[tuple[str, str]]:
    """Unfold a header block and check every line's syntax."""
    out: list[tuple[str, str]] = []
    for raw_line in data.split(b"\n"):
        if not raw_line.endswith(b"\r"):
            problems.append(f"{where}: line not ended by CRLF: {raw_line[:80]!r}")
        line = raw_line.removesuffix(b"\r")
        if len(line) > 998:
            problems.append(f"{where}: line of {len(line)} bytes (RFC 5322 limit 998)")
        try:
            text = line.decode("ascii")
        except UnicodeDecodeError:
            problems.append(f"{where}: non-ASCII header line {line[:80]!r}")
            text = line.decode("utf-8", "replace")
        if text[:1] in (" ", "\t"):
            if not out:
                problems.append(f"{where}: continuation line before any header")
                continue
            name, value = out[-1]
            out[-1] = (name, value + text)
            continue
        name, colon, value = text.partition(":")
        if not colon or not _NAME_RE.match(name):
            problems.append(f"{where}: not a header line: {text[:80]!r}")
            continue
        out.append((name, value.strip()))
    for name, value in out:
        if _BAD_IN_VALUE.search(value):
            problems.append(f"{where}: control character in {name}: {value[:120]!r}")
    return out


def _raw_part_heads(data: bytes, msg: EmailMessage) -> list[bytes]:
    """The header blocks of the MIME parts, cut from the bytes as written."""
    heads = []
    for part in msg.walk():
        boundary = part.get_boundary() if part.is_multipart() else None
        if not boundary:
            continue
        for segment in data.split(b"\r\n--" + boundary.encode())[1:]:
            if segment.startswith(b"\r\n"):
                heads.append(segment[2:].split(b"\r\n\r\n", 1)[0])
    return heads


def _check_parts(data: bytes, msg: EmailMessage, where: str, problems: list[str]) -> None:
    """Every part's header lines are well formed, parse without defects, and are ours."""
    for i, head in enumerate(_raw_part_heads(data, msg), 1):
        _header_block(head + b"\r", f"{where} part {i}", problems)
    for i, part in enumerate(msg.walk()):
        for name in part:
            low = name.lower()
            if low in FORBIDDEN or low not in ALLOWED:
                problems.append(f"{where} part {i}: unexpected header {name!r}")
        for name, value in part.items():
            for d in getattr(value, "defects", ()):
                problems.append(f"{where} part {i}: {name} has defect {type(d).__name__}: {d}")
        if part.get_content_disposition() == "attachment":
            fname = part.get_filename()
            if not fname:
                problems.append(f"{where} part {i}: attachment without a name")
            elif (set(fname) & set("/\\") or fname in (".", "..") or len(fname) > 255
                  or _BAD_IN_VALUE.search(fname) or "\u202e" in fname):
                problems.append(f"{where} part {i}: unsafe attachment name {fname!r}")


def read_sent(maildir: Path) -> list[Sent]:
    out = []
    for path in sorted((maildir / "new").iterdir()) if (maildir / "new").is_dir() else []:
        data = path.read_bytes()
        problems: list[str] = []
        head, sep, _ = data.partition(b"\r\n\r\n")
        if not sep:
            problems.append(f"{path.name}: no CRLF CRLF between header and body")
        headers = _header_block(head + b"\r", path.name, problems)
        msg = email.message_from_bytes(data, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        _check_parts(data, msg, path.name, problems)
        envelope = [v for n, v in headers if n.lower() == "x-mailticket-envelope-to"]
        out.append(Sent(path, envelope, headers, msg, problems))
    return out


def _header_addresses(msg: EmailMessage, name: str) -> list[str]:
    value = msg[name]
    if value is None:
        return []
    return [a.addr_spec for a in value.addresses]


# -- no file outside the temporary folder -----------------------------------------

_WATCH: list[list[tuple[str, str]]] = []
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if not _WATCH:
        return
    path: Any = None
    if event == "open":
        target, mode, flags = args
        writes = (isinstance(mode, str) and set(mode) & set("wax+")) or (
            isinstance(flags, int) and flags & _WRITE_FLAGS)
        path = target if writes else None
    elif event in ("os.mkdir", "os.symlink", "os.link", "sqlite3.connect", "shutil.copyfile"):
        path = args[-1] if event in ("os.symlink", "os.link", "shutil.copyfile") else args[0]
    elif event in ("os.rename", "os.replace"):
        path = args[1]
    if isinstance(path, str | bytes | os.PathLike):
        _WATCH[-1].append((event, os.path.abspath(os.fsdecode(path))))


_HOOKED = False


@pytest.fixture
def file_writes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, str]]]:
    """Every path opened for writing (or created, renamed to, connected to) while active."""
    global _HOOKED
    if not _HOOKED:
        sys.addaudithook(_audit)  # hooks cannot be removed; it does nothing unless watched
        _HOOKED = True
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # lazy imports must not count
    seen: list[tuple[str, str]] = []
    _WATCH.append(seen)
    try:
        yield seen
    finally:
        _WATCH.remove(seen)


# -- the tests --------------------------------------------------------------------

def test_the_checks_see_an_injection(tmp_path: Path) -> None:
    """The reader must flag what it is there to flag, or the real test proves nothing."""
    new = tmp_path / "new"
    new.mkdir()
    (new / "1").write_bytes(
        b"X-Mailticket-Envelope-From: support@x\r\nX-Mailticket-Envelope-To: a@x\r\n"
        b"From: a@x\r\nTo: a@x\r\nBcc: evil@x\r\nSubject: a\x00b\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=Z\r\n\r\n--Z\r\n"
        b"Content-Type: text/plain\r\nContent-Disposition: attachment; filename=\"../x\"\r\n"
        b"\r\nx\r\n--Z--\r\n")
    (new / "2").write_bytes(b"X-Mailticket-Envelope-To: a@x\r\nSubject: a\nb\r\n\r\nx")
    s, bare = read_sent(tmp_path)
    text = "\n".join(s.problems)
    assert "unexpected header 'Bcc'" in text
    assert "control character in Subject" in text
    assert "unsafe attachment name '../x'" in text
    assert "line not ended by CRLF" in "\n".join(bare.problems)
    assert "not a header line: 'b'" in "\n".join(bare.problems)
    assert s.envelope_to == ["a@x"]



def _agent_reply(note: EmailMessage, agent: str) -> bytes:
    """An agent answering a notification from a mail client: token Reply-To, In-Reply-To."""
    m = reply(note, f"Alice <{agent}>", "We are on it.\n")
    m.replace_header("Message-ID", f"<answer-{note['Message-ID'].strip('<>')}>")
    return bytes(m)


@pytest.fixture
def desk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[App]:
    app = corpora.throwaway_app(tmp_path / "desk")
    # Warm up (imports, templates, schema) before anything is watched.
    app.ingest(b"From: w@warm.test\r\nTo: " + SUPPORT.encode() + b"\r\nSubject: w\r\n\r\nw\r\n",
               department="support", source="warm-up")
    app.outbox.deliver()
    for f in (tmp_path / "desk" / "sent" / "new").iterdir():
        f.unlink()
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    yield app
    app.close()


@pytest.mark.parametrize("attack", [
    pytest.param(a, id=a.name, marks=[pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[a.name])]
                 if a.name in KNOWN_BUGS else []) for a in ATTACKS])
def test_hostile_customer_mail_cannot_shape_what_we_send(
        attack: Attack, desk: App, tmp_path: Path, file_writes: list[tuple[str, str]]) -> None:
    maildir = tmp_path / "desk" / "sent"
    outcome = desk.ingest(_build(attack), department="support", source="injection")
    assert outcome.action == "new_ticket", outcome
    assert desk.outbox.deliver().failed == 0
    sent = read_sent(maildir)

    # The agents' notifications: one each, to that agent only.
    notes = [s for s in sent if s.message["Auto-Submitted"] == "auto-generated"]
    assert sorted(s.envelope_to[0] for s in notes) == sorted(AGENTS)
    for s in notes:
        assert len(s.envelope_to) == 1
        assert _header_addresses(s.message, "To") == s.envelope_to
        assert _header_addresses(s.message, "Cc") == []

    # The auto-response: to the customer only.
    [auto] = [s for s in sent if s.message["Auto-Submitted"] == "auto-replied"]
    assert auto.envelope_to == [_customer(attack)]
    assert _header_addresses(auto.message, "To") == auto.envelope_to
    assert _header_addresses(auto.message, "Cc") == []

    # An agent answers: relayed to the customer plus the people in Cc, nobody else.
    [alice_note] = [s for s in notes if s.envelope_to == [AGENTS[0]]]
    answer = desk.ingest(_agent_reply(alice_note.message, AGENTS[0]), department="support",
                         source="injection")
    assert answer.action.startswith("agent_"), answer
    assert desk.outbox.deliver().failed == 0
    sent = read_sent(maildir)
    # A person's words: no Auto-Submitted (design, "Never answer a machine").
    [relayed] = [s for s in sent if s.message["Auto-Submitted"] is None]
    assert sorted(relayed.envelope_to) == sorted([_customer(attack), *attack.cc_expected])
    assert sorted(_header_addresses(relayed.message, "To")
                  + _header_addresses(relayed.message, "Cc")) == sorted(relayed.envelope_to)

    problems = [p for s in sent for p in s.problems]
    assert not problems, "\n".join(problems)
    for s in sent:
        names = [n.lower() for n, _ in s.headers]
        assert not set(names) & FORBIDDEN, (s.path.name, names)
        assert set(names) <= ALLOWED, (s.path.name, sorted(set(names) - ALLOWED))
        assert names.count("x-mailticket-envelope-from") == 1

    # Names are never paths: nothing written outside the temp folder, nothing in the cwd.
    root = str(tmp_path.resolve())
    outside = [(e, p) for e, p in file_writes
               if not os.path.realpath(p).startswith(root + os.sep)]
    assert not outside, outside
    assert list(Path.cwd().iterdir()) == []
    for marker in ("mt-escape-win.txt", "mt-escape-abs.txt", "mt-escape-2231.txt"):
        assert not (Path("/tmp") / marker).exists()
        assert not list(tmp_path.rglob(marker))
