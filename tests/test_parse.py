"""Tests for mailticket.incoming.parse: every field, hostile input, real-world samples."""

from __future__ import annotations

import os
import re
import sysconfig
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailticket.incoming import parse as parse_mod
from mailticket.incoming.addresses import MAX_ADDR_LEN, MAX_NAME_LEN, Address
from mailticket.incoming.bounces import listed_recipients
from mailticket.incoming.charsets import decode_bytes
from mailticket.incoming.classify import Verdict, classify
from mailticket.incoming.encoded_words import decode_header_value
from mailticket.incoming.message_ids import extract_ids
from mailticket.incoming.parse import ParsedMail, parse
from mailticket.incoming.text import clean_filename

DATA = Path(__file__).parent / "data"
CPYTHON_DATA = Path(sysconfig.get_paths()["stdlib"]) / "test" / "test_email" / "data"
SYNTHETIC_RE = re.compile(r"^<[0-9a-f]{32}@mailticket\.invalid>$")
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def mail(headers: str = "", body: str | bytes = "Hello.\n", *, crlf: bool = False) -> bytes:
    """A small raw mail; ``headers`` is newline-separated, without the blank line."""
    head = headers.strip("\n").encode("utf-8")
    raw_body = body.encode("utf-8") if isinstance(body, str) else body
    raw = head + b"\n\n" + raw_body
    return raw.replace(b"\n", b"\r\n") if crlf else raw


def sample(name: str) -> ParsedMail:
    return parse((DATA / name).read_bytes())


def assert_clean(s: str) -> None:
    assert not CONTROL_RE.search(s), repr(s)


# ---------------------------------------------------------------------------
# Message-IDs
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<a@b> <c@d>", ["<a@b>", "<c@d>"]),
        ("<a@b>\r\n\t<c@d>", ["<a@b>", "<c@d>"]),
        ("<a@b>,<c@d>", ["<a@b>", "<c@d>"]),
        ("<a@b> <a@b>", ["<a@b>"]),
        ('Your message of "Mon, 1 Jan" <x.y@z>', ["<x.y@z>"]),
        ("a@b", ["<a@b>"]),
        ("a@b c@d", ["<a@b>", "<c@d>"]),
        ("", []),
        ("<>", []),
        ("garbage", []),
        ("< spaced@id >", ["<spaced@id>"]),
        ("<" + "x" * 600 + "@y>", []),
    ],
)
def test_extract_ids(value: str, expected: list[str]) -> None:
    assert extract_ids(value) == expected


def test_message_id_as_written() -> None:
    m = parse(mail("Message-ID: <Abc.123@Example.COM>"))
    assert m.message_id == "<Abc.123@Example.COM>"
    assert not m.synthetic_id


def test_message_id_without_brackets_is_accepted() -> None:
    assert (
        parse(mail("Message-Id: 1234.5678@host.example")).message_id == "<1234.5678@host.example>"
    )


@pytest.mark.parametrize("header", ["", "Message-ID:", "Message-ID: <>", "Message-ID: garbage"])
def test_synthetic_message_id_is_stable(header: str) -> None:
    raw = mail(f"From: a@b\n{header}")
    m1, m2 = parse(raw), parse(raw)
    assert m1.synthetic_id
    assert SYNTHETIC_RE.match(m1.message_id)
    assert m1.message_id == m2.message_id
    assert parse(raw + b"x").message_id != m1.message_id
    assert any("Message-ID" in d for d in m1.defects)


def test_in_reply_to_and_references_are_capped() -> None:
    """70,000 ids must not become 70,000 database parameters: In-Reply-To keeps its
    first 5, References its first (the root) and its last 49 (the nearest parents)."""
    refs = " ".join(f"<{i}@r>" for i in range(70_000))
    irt = " ".join(f"<i{i}@r>" for i in range(20))
    m = parse(mail(f"In-Reply-To: {irt}\nReferences: {refs}"))
    assert m.in_reply_to == [f"<i{i}@r>" for i in range(5)]
    assert m.references == ["<0@r>", *(f"<{i}@r>" for i in range(70_000 - 49, 70_000))]
    assert any("Message-IDs in one header" in d for d in m.defects)
    m = parse(mail(f"References: {' '.join(f'<{i}@r>' for i in range(50))}"))
    assert len(m.references) == 50


def test_in_reply_to_and_references_in_order() -> None:
    m = parse(
        mail("In-Reply-To: <c@x>\nReferences: <a@x>\n <b@x>\n\t<c@x> <b@x>\nMessage-ID: <d@x>")
    )
    assert m.in_reply_to == ["<c@x>"]
    assert m.references == ["<a@x>", "<b@x>", "<c@x>"]


# ---------------------------------------------------------------------------
# Addresses
# ---------------------------------------------------------------------------


def test_addresses_decoded() -> None:
    m = parse(
        mail(
            "From: =?utf-8?q?J=C3=B6rg_M=C3=BCller?= <Joerg@Example.DE>\n"
            'To: "Doe, Jane" <jane@example.com>, bob@example.com\n'
            "Cc: =?iso-8859-1?q?Ren=E9?= <rene@example.fr>\n"
            "Sender: list-bounces@lists.example.org\n"
            "Reply-To: a@x, b@y"
        )
    )
    assert m.from_ == Address("Jörg Müller", "Joerg@Example.DE")
    assert m.from_.key == "joerg@example.de"
    assert m.to == [Address("Doe, Jane", "jane@example.com"), Address("", "bob@example.com")]
    assert m.cc == [Address("René", "rene@example.fr")]
    assert m.sender == Address("", "list-bounces@lists.example.org")
    assert [a.addr for a in m.reply_to] == ["a@x", "b@y"]
    assert [a.addr for a in m.all_recipients()] == [
        "jane@example.com",
        "bob@example.com",
        "rene@example.fr",
    ]


def test_encoded_name_cannot_inject_an_address() -> None:
    m = parse(mail("From: =?utf-8?q?Doe,_J_<boss@example.com>?= <real@attacker.example>"))
    assert m.from_ is not None
    assert m.from_.addr == "real@attacker.example"
    assert m.from_.name == "Doe, J <boss@example.com>"


def test_raw_utf8_in_address_headers() -> None:
    m = parse(mail("From: Åsa Öberg <åsa@exempel.se>"))
    assert m.from_ == Address("Åsa Öberg", "åsa@exempel.se")


def test_groups_and_undisclosed_recipients() -> None:
    m = parse(mail("To: undisclosed-recipients:;\nCc: team: a@x, b@y;"))
    assert m.to == []
    assert [a.addr for a in m.cc] == ["a@x", "b@y"]


@pytest.mark.parametrize(
    "value",
    [
        "Eve: x@evil.test <c@cust.test>",
        "Eve\u2028Bcc: x@evil.test\u0085X-Evil: 1 <c@cust.test>",
        "Eve Bcc: x@evil.test X-Evil: 1 <c@cust.test>",
        "x@evil.test <c@cust.test>",
        '"Eve <x@evil.test>" <c@cust.test>',
        "=?utf-8?q?Eve_<x@evil.test>?= <c@cust.test>",
    ],
)
def test_from_with_one_angle_address_is_that_address(value: str) -> None:
    """Display-name text never becomes the sender: the one <addr-spec> wins (as DMARC
    and mail clients see it), whatever getaddresses makes of a colon or U+2028."""
    m = parse(mail(f"From: {value}\nSender: {value}").replace(b"\n", b"\r\n"))
    assert m.from_ is not None and m.from_.addr == "c@cust.test"
    assert m.sender is not None and m.sender.addr == "c@cust.test"
    assert "@cust.test" not in m.from_.name
    assert_clean(m.from_.name)


def test_from_name_of_one_angle_address() -> None:
    m = parse(mail('From: "Doe, \\"JD\\" Jane" <jane@example.com>'))
    assert m.from_ == Address('Doe, "JD" Jane', "jane@example.com")
    m = parse(mail("From: =?utf-8?q?J=C3=B6rg?= <j@example.de>"))
    assert m.from_ == Address("Jörg", "j@example.de")


def test_from_with_two_addresses_keeps_the_first() -> None:
    m = parse(mail("From: <a@cust.test>, <evil@evil.test>"))
    assert m.from_ is not None and m.from_.addr == "a@cust.test"


def test_long_display_name_is_cut_and_long_address_dropped() -> None:
    long_addr = "x" * 330 + "@cust.test"
    m = parse(mail(f"From: {'N' * 400} <n@cust.test>\nTo: {long_addr}, ok@cust.test"))
    assert m.from_ == Address("N" * MAX_NAME_LEN, "n@cust.test")
    assert [a.addr for a in m.to] == ["ok@cust.test"]
    assert any(f"longer than {MAX_ADDR_LEN}" in d for d in m.defects)
    m = parse(mail(f"From: <{long_addr}>"))
    assert m.from_ is None


def test_missing_from() -> None:
    m = parse(mail("Subject: x"))
    assert m.from_ is None
    assert m.sender is None
    assert m.to == []


def test_delivered_to_lowercase_and_deduplicated() -> None:
    m = parse(
        mail(
            "Delivered-To: Support@Example.com\n"
            "X-Original-To: sales@example.com\n"
            "Delivered-To: support@example.com"
        )
    )
    assert m.delivered_to == ["support@example.com", "sales@example.com"]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ("From: a@b", None),
        ("Return-Path: <>", ""),
        ("Return-Path: <  >", ""),
        ("Return-Path: <bounce+x@lists.example>", "bounce+x@lists.example"),
        ("Return-Path: plain@example.com", "plain@example.com"),
        ("Return-Path: <first@x>\nReturn-Path: <second@x>", "first@x"),
    ],
)
def test_return_path(headers: str, expected: str | None) -> None:
    assert parse(mail(headers)).return_path == expected


# ---------------------------------------------------------------------------
# Subject, date, language, headers
# ---------------------------------------------------------------------------


def test_subject_crlf_injection_is_neutralised() -> None:
    m = parse(mail("Subject: =?utf-8?q?hi=0D=0ABcc:_evil@x?="))
    assert "\r" not in m.subject and "\n" not in m.subject
    assert m.subject == "hi Bcc: evil@x"


def test_subject_folded_and_collapsed() -> None:
    m = parse(mail("Subject: =?utf-8?q?Caf=C3=A9?=\r\n =?utf-8?q?_cr=C3=A8me?=\n  and\t\tmore  "))
    assert m.subject == "Café crème and more"


def test_subject_split_multibyte_across_encoded_words() -> None:
    # "ä" (C3 A4) split across two base64 words, as some encoders do.
    m = parse(mail("Subject: =?utf-8?b?w6Q=?= =?utf-8?b?w6TD?= =?utf-8?b?pA==?="))
    assert m.subject == "äää"


def test_subject_control_characters_removed() -> None:
    m = parse(mail("Subject: a\x00b\x07c =?utf-8?q?d=00e=1Bf?="))
    assert m.subject == "abc def"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", "plain"),
        ("=?utf-8?q?a?= b", "a b"),
        ("=?utf-8?q?a?=  =?utf-8?q?b?=", "ab"),
        ("Re:=?utf-8?q?x?=", "Re:x"),
        ("=?UTF-8*en?Q?lang?=", "lang"),
        ("=?utf-8?b?!!!?=", ""),
        ("=?nonexistent-cs?q?caf=E9?=", "café"),
        ("=?unicode-escape?q?=5Cx41?=", "\\x41"),
        ("=?utf-8?q?unterminated", "=?utf-8?q?unterminated"),
        ("=?utf-8?q?with spaces?=", "with spaces"),
    ],
)
def test_decode_header_value(value: str, expected: str) -> None:
    assert decode_header_value(value) == expected


def test_date_aware() -> None:
    m = parse(mail("Date: Tue, 24 Nov 2026 10:20:29 +0100"))
    assert m.date == datetime(2026, 11, 24, 9, 20, 29, tzinfo=UTC)
    assert m.date is not None and m.date.utcoffset() == timedelta(hours=1)


def test_a_date_past_the_last_instant_is_no_date() -> None:
    """9999-12-31 23:59 at -12:00 is after the last instant a datetime holds in UTC: the
    mail gets the time it arrived (the pipeline's), with a note, instead of failing."""
    m = parse(mail("Date: Fri, 31 Dec 9999 23:59:59 -1200"))
    assert m.date is None
    assert any("Date out of range" in d for d in m.defects)


@pytest.mark.parametrize(
    "value", ["Tue, 24 Nov 2026 10:20:29 -0000", "24 Nov 2026 10:20:29", "Tue, 24 Nov 26 10:20"]
)
def test_date_without_zone_is_utc(value: str) -> None:
    m = parse(mail(f"Date: {value}"))
    assert m.date is not None and m.date.tzinfo is not None


@pytest.mark.parametrize(
    "value", ["", "yesterday", "Tue, 99 Foo 2026 99:99:99 +9999", "Mon, 1 Jan 99999 00:00 +0000"]
)
def test_bad_date_is_none(value: str) -> None:
    assert parse(mail(f"Date: {value}")).date is None


def test_content_language() -> None:
    assert parse(mail("Content-Language: fr-FR, en")).content_language == "fr-FR"
    assert parse(mail("From: a@b")).content_language is None
    m = parse(
        mail(
            'Content-Type: multipart/mixed; boundary="b"',
            "--b\nContent-Type: text/plain\nContent-Language: sv\n\nHej\n--b--\n",
        )
    )
    assert m.content_language == "sv"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("de", "de"),
        ("zh-Hant-TW", "zh-Hant-TW"),
        ("x-klingon", "x-klingon"),
        ("0000 000000000000", None),
        ("en-US-x-twelve-chars", None),  # longer than a column holds
        ("en_US", None),
        ("fr\u2028Bcc: x", None),
        ("=?utf-8?q?en?=", None),  # not an unstructured field: no encoded words
    ],
)
def test_content_language_must_be_a_language_tag(value: str, expected: str | None) -> None:
    assert parse(mail(f"Content-Language: {value}")).content_language == expected


def test_invalid_content_language_falls_back_to_the_text_part() -> None:
    m = parse(
        mail(
            'Content-Language: 123\nContent-Type: multipart/mixed; boundary="b"',
            "--b\nContent-Type: text/plain\nContent-Language: nl\n\nHoi\n--b--\n",
        )
    )
    assert m.content_language == "nl"


def test_headers_dict() -> None:
    m = parse(
        mail(
            "X-Thing: =?utf-8?q?a=0Ab?=\n"
            "Received: one\n"
            "RECEIVED: two\n"
            "Auto-Submitted: auto-replied\n"
            "Subject: s"
        )
    )
    assert m.headers["x-thing"] == ["a b"]
    assert m.headers["received"] == ["one", "two"]
    assert m.header("Auto-Submitted") == "auto-replied"
    assert m.header("missing") is None


# ---------------------------------------------------------------------------
# Charsets and bodies
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "charset", "expected"),
    [
        ("café".encode(), "utf-8", "café"),
        ("café".encode("latin-1"), "iso-8859-1", "café"),
        ("café".encode(), "iso-8859-1", "café"),  # declared latin-1, really UTF-8
        ("café".encode("cp1252"), "utf-8", "café"),  # declared UTF-8, really cp1252
        ("“quoted” €".encode("cp1252"), "iso-8859-1", "“quoted” €"),
        ("café".encode(), None, "café"),
        ("café".encode("latin-1"), None, "café"),
        ("café".encode(), "us-ascii", "café"),
        ("café".encode(), "no-such-charset", "café"),
        (b"\\x41", "unicode_escape", "\\x41"),
        (b"eA==", "base64", "eA=="),
        ("Привет".encode("koi8-r"), "koi8-r", "Привет"),
        ("日本語".encode("shift_jis"), "shift_jis", "日本語"),
        ("中文".encode("gb18030"), "gb2312", "中文"),
        (b"\x81\x8d\x8f", "utf-8", "\x81\x8d\x8f"),  # latin-1, the last resort
        (b"", "utf-8", ""),
    ],
)
def test_decode_bytes(data: bytes, charset: str | None, expected: str) -> None:
    assert decode_bytes(data, charset)[0] == expected


def test_plain_preferred_over_html() -> None:
    body = (
        "--b\nContent-Type: text/plain; charset=utf-8\n\nplain text\n"
        "--b\nContent-Type: text/html; charset=utf-8\n\n<p>html <b>text</b></p>\n--b--\n"
    )
    m = parse(mail('Content-Type: multipart/alternative; boundary="b"', body))
    assert m.text.strip() == "plain text"
    assert m.html is not None and "<b>text</b>" in m.html
    assert m.attachments == []
    assert m.content_type == "multipart/alternative"


def test_empty_plain_alternative_falls_back_to_html() -> None:
    body = (
        "--b\nContent-Type: text/plain\n\n \n"
        "--b\nContent-Type: text/html\n\n<p>only here</p>\n--b--\n"
    )
    m = parse(mail('Content-Type: multipart/alternative; boundary="b"', body))
    assert m.text.strip() == "only here"


def test_html_meta_charset_used_when_part_has_none() -> None:
    html = (
        b'<html><head><meta charset="koi8-r"></head><body>'
        + "Привет".encode("koi8-r")
        + b"</body></html>"
    )
    m = parse(mail("Content-Type: text/html", html))
    assert m.text.strip() == "Привет"


def test_html_conversion_failure_falls_back_to_tag_stripping(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def boom(html: str) -> str:
        raise ValueError("lxml says no")

    import inscriptis

    monkeypatch.setattr(inscriptis, "get_text", boom)
    m = parse(mail("Content-Type: text/html", "<p>caf&eacute; <b>ok</b></p>"))
    assert " ".join(m.text.split()) == "café ok"


def test_body_newlines_and_controls() -> None:
    m = parse(mail("Content-Type: text/plain", b"a\r\nb\rc\x00d\x1b[0m\te\x0cf\n"))
    assert m.text == "a\nb\ncd[0m\te\nf\n"


def test_multiple_inline_text_parts_are_joined() -> None:
    body = (
        "--b\nContent-Type: text/plain\n\nfirst\n"
        "--b\nContent-Type: image/png\nContent-Disposition: inline\n\nxx\n"
        "--b\nContent-Type: text/plain\n\nsecond\n--b--\n"
    )
    m = parse(mail('Content-Type: multipart/mixed; boundary="b"', body))
    assert m.text == "first\nsecond"
    assert [a.content_type for a in m.attachments] == ["image/png"]


def test_broken_boundary_is_read_as_text() -> None:
    m = parse(mail("Content-Type: multipart/mixed", "just some text\n"))
    assert "just some text" in m.text
    assert m.defects


def test_base64_body_with_garbage() -> None:
    m = parse(
        mail(
            "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64",
            "SGVsbG8g!!w7xiZXI=\n***\n",
        )
    )
    assert m.text.startswith("Hello")


@pytest.mark.parametrize("cte", ["x-uuencode", "quoted-printable", "base64", "bogus"])
def test_broken_transfer_encodings_do_not_raise(cte: str) -> None:
    m = parse(mail(f"Content-Transfer-Encoding: {cte}", "begin 644 x\n!!!garbage=ZZ=\nend\n"))
    assert isinstance(m.text, str)


# ---------------------------------------------------------------------------
# Attachments
# ---------------------------------------------------------------------------


def test_attachment_fields() -> None:
    body = (
        "--b\nContent-Type: text/plain\n\nsee attached\n"
        '--b\nContent-Type: application/pdf; name="x.pdf"\n'
        "Content-Disposition: attachment; filename*=utf-8''r%C3%A9sum%C3%A9.pdf\n"
        "Content-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n"
        "--b\nContent-Type: image/png\nContent-ID: <img1@x>\n"
        "Content-Transfer-Encoding: base64\n\niVBORw0K\n"
        "--b\nContent-Type: text/plain; name=notes.txt\n\nnotes\n--b--\n"
    )
    m = parse(mail('Content-Type: multipart/mixed; boundary="b"', body))
    assert m.text == "see attached"
    pdf, png, txt = m.attachments
    assert (pdf.filename, pdf.content_type, pdf.size, pdf.inline) == (
        "résumé.pdf",
        "application/pdf",
        9,
        False,
    )
    assert (png.filename, png.content_id, png.inline, png.size) == ("", "<img1@x>", True, 6)
    assert (txt.filename, txt.content_type) == ("notes.txt", "text/plain")


@pytest.mark.parametrize(
    ("disposition", "expected"),
    [
        ('filename="../../etc/passwd"', "passwd"),
        ("filename*=utf-8''..%2F..%2Fetc%2Fpasswd", "passwd"),
        ('filename="C:\\\\Users\\\\x\\\\evil.exe"', "evil.exe"),
        ('filename="=?utf-8?q?a=2Fb=2F..=2Fc.txt?="', "c.txt"),
        ('filename=".."', ""),
        ('filename="/"', ""),
        ('filename="=?utf-8?q?x=0D=0Ay.txt?="', "xy.txt"),
        ('filename="=?utf-8?q?invoice=E2=80=AEfdp.exe?="', "invoicefdp.exe"),
    ],
)
def test_attachment_filename_is_a_safe_basename(disposition: str, expected: str) -> None:
    body = (
        "--b\nContent-Type: text/plain\n\nx\n"
        f"--b\nContent-Type: application/octet-stream\nContent-Disposition: attachment; "
        f"{disposition}\n\ndata\n--b--\n"
    )
    m = parse(mail('Content-Type: multipart/mixed; boundary="b"', body))
    assert [a.filename for a in m.attachments] == [expected]


def test_attached_message_is_an_attachment_not_the_body() -> None:
    body = (
        "--b\nContent-Type: text/plain\n\nForwarding this.\n"
        "--b\nContent-Type: message/rfc822\n\nFrom: x@y\nSubject: inner\n"
        "Message-ID: <inner@y>\n\ninner body\n--b--\n"
    )
    m = parse(mail('Content-Type: multipart/mixed; boundary="b"', body))
    assert m.text == "Forwarding this."
    assert [a.content_type for a in m.attachments] == ["message/rfc822"]
    assert m.attachments[0].size > 0
    assert m.original_message_ids == ["<inner@y>"]


@pytest.mark.parametrize(
    ("ctype", "expected"),
    [
        ("application/pdf", "application/pdf"),
        ("Image/PNG", "image/png"),
        ("application/vnd.ms-excel+xml", "application/vnd.ms-excel+xml"),
        ("application/x\x00evil", "application/octet-stream"),
        ("application/x\x1b[31m", "application/octet-stream"),
        ("text/x\u2028y", "application/octet-stream"),
        ("application/pdf x-injected: 1", "application/octet-stream"),
    ],
)
def test_attachment_content_type_is_a_clean_token(ctype: str, expected: str) -> None:
    """Fuzzer finding: control characters in the Content-Type reached Attachment."""
    body = (
        "--b\nContent-Type: text/plain\n\nx\n"
        f"--b\nContent-Type: {ctype}\nContent-Disposition: attachment; filename=a.bin\n\n"
        "data\n--b--\n"
    )
    m = parse(
        mail('Content-Type: multipart/mixed; boundary="b"', body.encode("utf-8", "surrogatepass"))
    )
    assert [a.content_type for a in m.attachments] == [expected]
    assert m.content_type == "multipart/mixed"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\x\\evil.exe", "evil.exe"),
        (".", ""),
        ("..", ""),
        ("/", ""),
        ("a/..", ""),
        ("\u202egnp.exe", "gnp.exe"),
        ("in\u2066vo\u2069ice\u202d.pdf", "invoice.pdf"),
        ("x\r\ny\x00.txt", "xy.txt"),
        ("  spaced \t name .txt ", "spaced name .txt"),
        ("é" * 300, "é" * 255),
    ],
)
def test_clean_filename(name: str, expected: str) -> None:
    assert clean_filename(name) == expected


# ---------------------------------------------------------------------------
# Never raise
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\n",
        b"\r\n\r\n",
        b"\x00" * 64,
        b"\xff\xfe\xfd",
        b"no colon header line\n\nbody",
        b"From: " + b"a" * 200_000 + b"\n\n",
        b"Subject: " + b"=?utf-8?b?" * 10_000 + b"\n\n",
        b"Content-Type: multipart/mixed; boundary=\n\n--\n--\n",
        b'Content-Type: multipart/mixed; boundary="\xff"\n\n--\xff\nx\n--\xff--\n',
        b"Content-Type: text/plain; charset*=''%FF%FE\n\nx",
        b'Content-Type: text/plain; charset="utf-8\xff"\n\n\xe9',
        b"Content-Type: message/rfc822\n\n",
        b"Content-Type: message/delivery-status\n\n\n\n\n",
        b"Date: Mon, 1 Jan 0001 00:00:00 +2359\n\n",
        b"Content-Type: multipart/alternative; boundary=b\n\n--b\n--b\n--b--",
    ],
)
def test_parse_never_raises_on_odd_input(raw: bytes) -> None:
    m = parse(raw)
    assert m.raw == raw
    assert m.message_id.startswith("<") and m.message_id.endswith(">")
    assert_clean(m.subject)


def test_deeply_nested_multipart() -> None:
    depth = 3000
    head = "".join(
        f'Content-Type: multipart/mixed; boundary="b{i}"\n\n--b{i}\n' for i in range(depth)
    )
    raw = (head + "Content-Type: text/plain\n\ndeep\n").encode()
    m = parse(b"From: Deep <deep@example.com>\nMessage-ID: <deep@x>\n" + raw)
    assert m.from_ == Address("Deep", "deep@example.com")
    assert m.message_id == "<deep@x>"
    assert m.defects


def test_accepts_bytearray_and_memoryview() -> None:
    raw = mail("Subject: hi")
    assert parse(bytearray(raw)).subject == "hi"  # type: ignore[arg-type]
    assert parse(memoryview(raw)).subject == "hi"  # type: ignore[arg-type]


def test_internal_failure_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(raw: bytes, ctx: object) -> ParsedMail:
        raise RuntimeError("simulated")

    monkeypatch.setattr(parse_mod, "_parse", boom)
    raw = mail("Subject: x", "body text\n")
    m = parse(raw)
    assert m.synthetic_id and SYNTHETIC_RE.match(m.message_id)
    assert "body text" in m.text
    assert any("simulated" in d for d in m.defects)


# ---------------------------------------------------------------------------
# Samples in tests/data
# ---------------------------------------------------------------------------


def test_sample_customer_fr_attachment() -> None:
    m = sample("customer_fr_attachment.eml")
    assert m.from_ == Address("Élodie Lefèvre", "Elodie.Lefevre@orange.example")
    assert m.subject == "Impossible de télécharger la facture de décembre"
    assert "« accès refusé »" in m.text
    assert "Élodie Lefèvre" in m.text
    assert m.content_language == "fr"
    assert m.delivered_to == ["support@example.com"]
    assert [(a.filename, a.content_type) for a in m.attachments] == [
        ("capture.png", "image/png"),
        ("facture novembre été.pdf", "application/pdf"),
    ]
    assert m.attachments[1].size == 125
    assert m.date == datetime(2026, 11, 24, 9, 20, 29, tzinfo=UTC)
    assert m.defects == []


def test_sample_html_only() -> None:
    m = sample("html_only.eml")
    assert m.subject == "Báo giá cho 100 giấy phép"
    assert m.html is not None
    assert "Chúng tôi cần báo giá cho 100 giấy phép phần mềm." in m.text
    assert "Licence Pro" in m.text
    assert "<" not in m.text and "alert(" not in m.text


def test_sample_undeclared_8bit_utf8() -> None:
    m = sample("undeclared_8bit_utf8.eml")
    assert m.subject == "Fråga om leverans – order 8812"
    assert m.from_ == Address("Björn Åström", "bjorn@exempel.se")
    assert "När kommer min beställning?" in m.text


def test_sample_wrong_charsets() -> None:
    m1 = sample("wrong_charset_declared_latin1.eml")
    assert "Schöne Grüße aus München" in m1.text
    assert m1.subject == "Grüße"
    assert any("UTF-8" in d for d in m1.defects)
    m2 = sample("wrong_charset_declared_utf8.eml")
    assert "J'ai reçu la commande" in m2.text and "élément nº 3 –" in m2.text
    assert m2.subject == "Commande reçue"
    assert m2.defects


def test_sample_broken_encoded_words() -> None:
    m = sample("broken_encoded_words.eml")
    assert m.from_ == Address("Jörg Schmidt", "joerg@example.de")
    assert m.to == [Address("Support", "support@example.com")]
    assert m.subject.startswith("äöüß😀 Café")
    assert "Привет" in m.subject
    assert m.date is None
    assert m.synthetic_id


def test_sample_rfc2231_paths() -> None:
    m = sample("rfc2231_path_filename.eml")
    names = [a.filename for a in m.attachments]
    assert names == ["passwd", "evil.dll", "résumé.pdf", "authorized_keys", ""]
    for name in names:
        assert "/" not in name and "\\" not in name
        assert_clean(name)
    assert m.attachments[0].size == len(b"root:x:0:0:root:/root:/bin/bash\n")


def test_sample_nul_bytes() -> None:
    m = sample("nul_bytes.eml")
    assert m.subject == "Hello there"
    assert m.from_ is not None
    assert_clean(m.from_.name)
    assert_clean(m.from_.addr)
    assert "\x00" not in m.text and "\x1b" not in m.text
    assert m.text.startswith("Line one still one\n")


def test_sample_header_injection() -> None:
    m = sample("header_injection.eml")
    assert m.subject == "hi Bcc: evil@x"
    assert m.from_ is not None and m.from_.addr == "eve@example.net"
    assert m.reply_to == [Address("bob X-Injected: 1", "bob@example.net")]
    for s in [m.subject, m.from_.name, *(a.filename for a in m.attachments)]:
        assert_clean(s)
    for values in m.headers.values():
        for v in values:
            assert_clean(v)


def test_sample_postfix_bounce() -> None:
    m = sample("postfix_bounce.eml")
    assert m.content_type == "multipart/report"
    assert m.return_path == ""
    assert "could not\nbe delivered" in m.text
    assert m.bounced_recipients == ["jean.dupont@client-disparu.fr"]
    assert m.original_message_ids == ["<mt.1044.ack.5c0ffee1@example.com>"]
    assert [a.content_type for a in m.attachments] == [
        "message/delivery-status",
        "message/rfc822",
    ]


def test_sample_exim_bounce() -> None:
    m = sample("exim_bounce.eml")
    assert m.return_path == ""
    assert m.delivered_to == ["support@example.com"]  # Envelope-to
    assert m.bounced_recipients == ["m.keller@firma-alt.de"]
    assert m.original_message_ids == ["<mt.1045.reply.77aa01be@example.com>"]


def test_sample_sendmail_bounce() -> None:
    m = sample("sendmail_bounce.eml")
    assert m.bounced_recipients == ["olga.petrova@example.bg"]
    assert m.original_message_ids == ["<mt.1046.ack.0d15ea5e@example.com>"]
    assert "permanent fatal errors" in m.text


def test_sample_exchange_oof() -> None:
    m = sample("exchange_oof.eml")
    assert m.subject == "Automatic reply: [Support #1042] Your invoice question"
    assert m.in_reply_to == ["<mt.1042.7d1e0c9b@example.com>"]
    assert "Jag är på semester" in m.text
    assert m.content_language == "sv-SE"
    assert m.to[0].key == "support+1042-9f2c1a@example.com"


def test_sample_gmail_vacation() -> None:
    m = sample("gmail_vacation.eml")
    assert m.from_ == Address("Carlos Méndez", "carlos.mendez@gmail.com")
    assert m.subject == "Re: [Support #1043] Problema con el pedido"
    assert m.text.startswith("Estoy de vacaciones hasta el lunes. Responderé")


def test_sample_list_post() -> None:
    m = sample("list_post.eml")
    assert m.headers["list-id"] == ["Users of the product <users.lists.example.org>"]
    assert m.sender == Address("", "users-bounces@lists.example.org")


def test_every_sample_is_parsed_consistently() -> None:
    files = sorted(DATA.glob("*.eml"))
    assert len(files) >= 14
    for path in files:
        raw = path.read_bytes()
        m = parse(raw)
        assert m.raw == raw
        assert_clean(m.subject)
        assert m.date is None or m.date.tzinfo is not None


# ---------------------------------------------------------------------------
# Bounces: which recipients failed
# ---------------------------------------------------------------------------


def bounce(
    body: str,
    subject: str = "Undelivered Mail Returned to Sender",
    from_: str = "Mail Delivery System <MAILER-DAEMON@mx.example.net>",
    return_path: str = "<>",
    extra: str = "",
) -> ParsedMail:
    head = f"Return-Path: {return_path}\nFrom: {from_}\nTo: support@example.com\nSubject: {subject}"
    return parse(mail(head + ("\n" + extra if extra else ""), body))


_RETURNED = """
Return-Path: <support@example.com>
Received: from helpdesk.example.com by mx.example.net
From: Support <support@example.com>
To: Jane <jane@client.example>, colleague@client.example
Cc: boss@client.example
Subject: [Support #12] Your question
"""

BOUNCE_FORMATS = {
    "postfix": (
        "Undelivered Mail Returned to Sender",
        "This is the mail system at host mx.example.net.\n\n"
        "I'm sorry to have to inform you that your message could not\n"
        "be delivered to one or more recipients. It's attached below.\n\n"
        "For further assistance, please send mail to <postmaster@mx.example.net>\n\n"
        "                   The mail system\n\n"
        "<jane@client.example>: host mx.client.example[192.0.2.1] said: 550 5.1.1\n"
        "    <jane@client.example>: Recipient address rejected: User unknown (in reply\n"
        "    to RCPT TO command)\n",
    ),
    "qmail": (
        "failure notice",
        "Hi. This is the qmail-send program at mx.example.net.\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
        "This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
        "<jane@client.example>:\n"
        "Sorry, no mailbox here by that name. (#5.1.1)\n\n"
        "--- Below this line is a copy of the message.\n" + _RETURNED,
    ),
    "sendmail": (
        "Returned mail: see transcript for details",
        "The original message was received at Mon, 23 Nov 2026 10:00:00 +0100\n"
        "from helpdesk.example.com [192.0.2.7]\n\n"
        "   ----- The following addresses had permanent fatal errors -----\n"
        "<jane@client.example>\n"
        "    (reason: 550 5.1.1 <jane@client.example>... User unknown)\n\n"
        "   ----- Transcript of session follows -----\n"
        "... while talking to mx.client.example.:\n"
        ">>> RCPT To:<jane@client.example>\n"
        "<<< 550 5.1.1 <jane@client.example>... User unknown\n\n"
        "   ----- Original message follows -----\n" + _RETURNED,
    ),
    "exim": (
        "Mail delivery failed: returning message to sender",
        "This message was created automatically by mail delivery software.\n\n"
        "A message that you sent could not be delivered to one or more of its\n"
        "recipients. This is a permanent error. The following address(es) failed:\n\n"
        "  jane@client.example\n"
        "    host mx.client.example [192.0.2.1]\n"
        "    SMTP error from remote mail server after RCPT TO:<jane@client.example>:\n"
        "    550 5.1.1 User unknown\n\n"
        "------ This is a copy of the message, including all the headers. ------\n" + _RETURNED,
    ),
    "exchange": (
        "Undeliverable: [Support #12] Your question",
        "Delivery has failed to these recipients or groups:\n\n"
        "jane@client.example\n"
        "The e-mail address you entered couldn't be found. Please check the\n"
        "recipient's e-mail address and try to resend the message.\n\n"
        "Diagnostic information for administrators:\n\n"
        "Generating server: mail.client.example\n\n"
        "jane@client.example\n"
        "#550 5.1.1 RESOLVER.ADR.RecipNotFound; not found ##\n\n"
        "Original message headers:\n" + _RETURNED,
    ),
    "exchange-5.5": (
        "Undeliverable: [Support #12] Your question",
        "Your message\n\n"
        "  To:      Jane Doe\n"
        "  Cc:      colleague@client.example\n"
        "  Subject: [Support #12] Your question\n"
        "  Sent:    Mon, 23 Nov 2026 10:00:00 +0100\n\n"
        "did not reach the following recipient(s):\n\n"
        "c=US;a= ;p=Client;o=Mail;dda:SMTP=jane@client.example; on Mon, 23 Nov 2026\n"
        "    The recipient name is not recognized\n",
    ),
    "yahoo": (
        "Delivery failure",
        "Message from yahoo.com.\n"
        "Unable to deliver message to the following address(es).\n\n"
        "<jane@client.example>:\n"
        "Sorry your message to jane@client.example cannot be delivered. This account\n"
        "has been disabled or discontinued.\n\n"
        "<joe@client.example>:\n"
        "This user doesn't have a yahoo.com account (joe@client.example) [0]\n\n"
        "--- Original message follows.\n" + _RETURNED,
    ),
    "smtp32": (
        "Undeliverable Mail",
        "Delivery failed 20 attempts: jane@client.example\n\n"
        "Original message follows.\n" + _RETURNED,
    ),
    "gmail": (
        "Delivery Status Notification (Failure)",
        "This is an automatically generated Delivery Status Notification\n\n"
        "Delivery to the following recipient failed permanently:\n\n"
        "     jane@client.example\n\n"
        "Technical details of permanent failure:\n"
        "The email account that you tried to reach does not exist.\n\n"
        "   ----- Original message -----\n" + _RETURNED,
    ),
    "groupwise-html": (
        "Undeliverable: [Support #12] Your question",
        "<html><body><p>Your message<br><br>&nbsp; To:&nbsp; Jane<br>"
        "&nbsp; Subject: [Support #12]<br><br>did not reach the following recipient(s):"
        "<br><br>jane@client.example on Mon, 23 Nov 2026 10:01:00 +0100<br>"
        "&nbsp;&nbsp; The recipient name is not recognized<br></p></body></html>",
    ),
}
_EXPECTED = {"yahoo": ["jane@client.example", "joe@client.example"]}


@pytest.mark.parametrize("fmt", sorted(BOUNCE_FORMATS))
def test_plain_text_bounce_formats(fmt: str) -> None:
    """No delivery-status part: the notice before the returned message names the failed
    address; the returned copy's own recipients (colleague@, boss@) are never taken."""
    subject, body = BOUNCE_FORMATS[fmt]
    extra = "Content-Type: text/html" if fmt.endswith("html") else ""
    m = bounce(body, subject=subject, extra=extra)
    assert m.bounced_recipients == _EXPECTED.get(fmt, ["jane@client.example"])


def test_bounce_text_is_read_only_for_mail_that_looks_like_a_bounce() -> None:
    body = BOUNCE_FORMATS["exim"][1]
    m = parse(mail("From: Jane <jane@client.example>\nSubject: Question", body))
    assert m.bounced_recipients == []


def test_bounce_relayed_by_a_list_is_still_read() -> None:
    """A list or gateway puts its own Return-Path on the bounce it passes on."""
    subject, body = BOUNCE_FORMATS["qmail"]
    m = bounce(body, subject=subject, return_path="<list-bounces@lists.example.org>")
    assert m.bounced_recipients == ["jane@client.example"]


def test_sendmail_expanded_alias_is_named_too() -> None:
    body = (
        "   ----- The following addresses had permanent fatal errors -----\n"
        "jane@mailhost.client.example\n"
        "    (expanded from: <sales@client.example>)\n"
    )
    m = bounce(body, subject="Returned mail: User unknown")
    assert sorted(m.bounced_recipients) == ["jane@mailhost.client.example", "sales@client.example"]


def test_bare_user_name_gets_the_reporting_domain() -> None:
    """AOL names its own user without a domain."""
    body = (
        "Your mail to the following recipients could not be delivered because they are\n"
        "not accepting mail from support@example.com:\n"
        "\tscreenname\n"
    )
    m = bounce(body, subject="Mail Delivery Problem", from_="MAILER-DAEMON@aol.example")
    assert m.bounced_recipients == ["screenname@aol.example"]


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        (
            "Warning: message 1abc-0001 delayed 24 hours",
            "This message was created automatically by mail delivery software.\n"
            "A message that you sent has not yet been delivered to one or more of its\n"
            "recipients after more than 24 hours on the queue on mx.example.net.\n\n"
            "The message has not yet been delivered to the following addresses:\n\n"
            "  <jane@client.example>\n\n"
            "No action is required on your part. Delivery attempts will continue for\n"
            "some time.\n",
        ),
        (
            "Delivery Status Notification (Delay)",
            "THIS IS A WARNING MESSAGE ONLY.\n\n"
            "Delivery to the following recipient has been delayed:\n\n"
            "     jane@client.example\n",
        ),
    ],
)
def test_delay_warnings_name_no_failed_recipient(subject: str, body: str) -> None:
    assert bounce(body, subject=subject).bounced_recipients == []


def test_unknown_format_reads_every_address_but_the_bounces_own() -> None:
    body = (
        "Your mail to jane@client.example bounced: mailbox unavailable.\n"
        "It was sent by support@example.com.\n"
        "Questions: write to postmaster@mx.example.net.\n"
    )
    assert bounce(body, subject="Mail error").bounced_recipients == ["jane@client.example"]


def test_unknown_format_naming_many_addresses_is_not_guessed() -> None:
    body = (
        "Your mail is undeliverable: no match in the directory.\n"
        "If mike.fox@client.example fails, try michael.fox@client.example,\n"
        "NAME@client.example or NAME@cs.client.example instead.\n"
    )
    assert bounce(body, subject="Returned mail").bounced_recipients == []


def dsn(status: str, text: str = "Delivery failed.\n", outer: str = "") -> bytes:
    body = (
        f"--r\nContent-Type: text/plain\n\n{text}"
        f"--r\nContent-Type: message/delivery-status\n\n{status}"
        "--r\nContent-Type: text/rfc822-headers\n\nMessage-ID: <mt.1@example.com>\n"
        "--r--\n"
    )
    head = (
        "Return-Path: <>\nFrom: MAILER-DAEMON@mx.example.net\nSubject: Delivery report\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=r"
    )
    return mail(head, body)


def test_dsn_actions_failure_and_error_count_as_failed() -> None:
    status = (
        "Reporting-MTA: dns; mx.example.net\n\n"
        "Final-Recipient: rfc822; a@client.example\nAction: failure\nStatus: 5.1.1\n\n"
        "Final-Recipient: rfc822; b@client.example\nAction: error\nStatus: 5.0.0\n\n"
        "Final-Recipient: rfc822; c@client.example\nAction: delayed\nStatus: 4.4.1\n\n"
        "Final-Recipient: rfc822; d@client.example\nAction: delivered\nStatus: 2.0.0\n"
    )
    m = parse(dsn(status))
    assert m.bounced_recipients == ["a@client.example", "b@client.example"]
    assert m.original_message_ids == ["<mt.1@example.com>"]


def test_dsn_whitespace_line_between_blocks() -> None:
    """A line holding one space parts the blocks (RFC 5322 would call it a fold)."""
    status = (
        "Reporting-MTA: dns;mx.example.net\n \n"
        "Final-Recipient: rfc822;jane@client.example\nAction: failed\nStatus: 5.1.1\n"
    )
    assert parse(dsn(status)).bounced_recipients == ["jane@client.example"]


def test_dsn_recipient_blocks_without_blank_lines() -> None:
    status = (
        "Reporting-MTA: dns; mx.example.net\n"
        "Final-Recipient: rfc822; a@client.example\nAction: failed\n"
        "Final-Recipient: rfc822; b@client.example\nAction: failed\n"
    )
    assert parse(dsn(status)).bounced_recipients == ["a@client.example", "b@client.example"]


def test_dsn_original_recipient_is_the_address_we_wrote_to() -> None:
    status = (
        "Reporting-MTA: dns; mx.example.net\n\n"
        "Original-Recipient: rfc822;Sales@Client.example\n"
        "Final-Recipient: rfc822;<jane@mailhost.client.example>\nAction: failed\n"
    )
    assert parse(dsn(status)).bounced_recipients == ["sales@client.example"]


def test_dsn_delay_report_is_not_read_as_text() -> None:
    status = "Reporting-MTA: mx\n\nFinal-Recipient: rfc822; a@client.example\nAction: delayed\n"
    text = "Could not be delivered to the following recipients:\n\na@client.example\n\n"
    assert parse(dsn(status, text)).bounced_recipients == []


def test_dsn_without_recipient_blocks_falls_back_to_the_notice() -> None:
    text = "A message could not be delivered to:\n\njane@client.example\n\n"
    m = parse(dsn("Reporting-MTA: dns; mx.example.net\n", text))
    assert m.bounced_recipients == ["jane@client.example"]


def test_dsn_inside_a_forwarded_message() -> None:
    inner = dsn(
        "Reporting-MTA: dns; mx\n\nFinal-Recipient: rfc822;jane@client.example\nAction: failed\n"
    ).decode()
    body = f"--o\nContent-Type: message/rfc822\nContent-Disposition: attachment\n\n{inner}\n--o--\n"
    m = parse(
        mail(
            "From: postmaster@gateway.example\nSubject: Delivery Status Notification (Failure)\n"
            "Content-Type: multipart/mixed; boundary=o",
            body,
        )
    )
    assert m.bounced_recipients == ["jane@client.example"]


def test_listed_recipients_needs_lines_of_their_own() -> None:
    listed = parse(mail("From: gw@client.example", "Could not be delivered to:\n\nj@c.example\n"))
    assert listed_recipients(listed) == ["j@c.example"]
    prose = parse(mail("From: gw@client.example", "My mail could not be delivered to j@c.example."))
    assert listed_recipients(prose) == []


@pytest.mark.parametrize(
    "raw",
    [
        mail("Return-Path: <>\nSubject: Undeliverable", "user unknown " + "a" * 19_000),
        mail("Return-Path: <>\nSubject: Undeliverable", "user unknown " + ".a" * 9_500),
        mail("Return-Path: <>\nSubject: Undeliverable", ("b" * 999 + "\n") * 20),
        mail("From: <" + "@" * 100_000),
        mail("From: " + "<a" * 50_000),
    ],
    ids=["alnum-line", "dotted-line", "long-lines", "from-ats", "from-angles"],
)
def test_hostile_lines_cost_linear_time(raw: bytes) -> None:
    """Address patterns never backtrack quadratically (a From of 100,000 "@" took 35 s)."""
    start = time.perf_counter()
    parse(raw)
    assert time.perf_counter() - start < 3


def test_original_message_ids_are_capped() -> None:
    body = "".join(f"Message-ID: <{i}@x>\n" for i in range(10_000))
    m = parse(mail("From: MAILER-DAEMON@mx.example.net\nSubject: Undeliverable", body))
    assert m.original_message_ids == [f"<{i}@x>" for i in range(20)]


def test_flufl_bounce_addresses_rate_and_precision() -> None:
    """flufl.bounce's real bounces: the failed addresses found (recall) and how many
    found addresses are not failed ones (precision); both printed, both bounded."""
    from tests import corpora
    from tests.test_corpora import _as_delivered

    hits = total = right = wrong = 0
    strays: list[str] = []
    for b in corpora.flufl_bounces():
        got = set(parse(_as_delivered(b.path.read_bytes())[0]).bounced_recipients)
        expected = {e.lower() for e in b.expected}
        if b.temporary:
            strays += [f"{b.path.name} (delay): {a}" for a in sorted(got)]
            wrong += len(got)
        elif expected:
            total += 1
            hits += expected <= got
            right += len(got & expected)
            wrong += len(got - expected)
            strays += [f"{b.path.name}: {a}" for a in sorted(got - expected)]
    precision = right / (right + wrong)
    print(
        f"\nflufl.bounce: failed address found for {hits}/{total} permanent failures "
        f"({hits / total:.1%}); precision {right}/{right + wrong} ({precision:.1%})"
    )
    for line in strays:
        print("  stray " + line)
    assert hits / total >= 0.95
    assert precision >= 0.98, strays


# ---------------------------------------------------------------------------
# CPython's own test messages
# ---------------------------------------------------------------------------


@pytest.mark.skipif(not CPYTHON_DATA.is_dir(), reason="CPython test data not installed")
def test_cpython_test_messages() -> None:
    files = [p for p in sorted(CPYTHON_DATA.iterdir()) if p.is_file()]
    assert files
    for path in files:
        m = parse(path.read_bytes())
        assert isinstance(m.text, str), path
        assert isinstance(classify(m, frozenset({"support@example.com"})), Verdict)
        assert_clean(m.subject)
        for a in m.attachments:
            assert "/" not in a.filename and "\\" not in a.filename
    bounce = parse((CPYTHON_DATA / "msg_16.txt").read_bytes())
    assert bounce.bounced_recipients == ["jangel1@cougar.noc.ucla.edu"]


# ---------------------------------------------------------------------------
# Property tests
# ---------------------------------------------------------------------------


def check_invariants(m: ParsedMail, raw: bytes) -> None:
    assert m.raw == raw
    assert m.message_id.startswith("<") and m.message_id.endswith(">")
    assert not m.synthetic_id or SYNTHETIC_RE.match(m.message_id)
    assert_clean(m.subject)
    assert m.subject == m.subject.strip()
    for a in [*m.to, *m.cc, *m.reply_to, *(x for x in (m.from_, m.sender) if x)]:
        assert_clean(a.name)
        assert_clean(a.addr)
    for att in m.attachments:
        assert_clean(att.filename)
        assert "/" not in att.filename and "\\" not in att.filename
        assert att.filename not in (".", "..")
        assert att.size >= 0
    for ident in [*m.in_reply_to, *m.references]:
        assert ident.startswith("<") and ident.endswith(">")
    assert m.date is None or m.date.tzinfo is not None
    assert "\r" not in m.text
    assert isinstance(classify(m, frozenset({"support@example.com"})), Verdict)


# MAILTICKET_FUZZ_EXAMPLES=20000 for a long fuzzing run.
PROPERTY_SETTINGS = settings(
    max_examples=int(os.environ.get("MAILTICKET_FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@PROPERTY_SETTINGS
@given(st.binary(max_size=4000))
def test_random_bytes_never_raise(raw: bytes) -> None:
    check_invariants(parse(raw), raw)


HEADER_NAMES = [
    "From",
    "To",
    "Cc",
    "Sender",
    "Reply-To",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Return-Path",
    "Delivered-To",
    "X-Original-To",
    "Content-Type",
    "Content-Transfer-Encoding",
    "Content-Disposition",
    "Content-Language",
    "Auto-Submitted",
    "Precedence",
    "List-Id",
    "X-Auto-Response-Suppress",
    "X-Mailticket-Loop",
]
TOKENS = [
    "=?utf-8?q?",
    "=?utf-8?b?",
    "?=",
    "=0D=0A",
    "<",
    ">",
    "@",
    ",",
    ";",
    '"',
    "\\",
    "=?",
    "multipart/mixed; boundary=",
    "multipart/report; report-type=delivery-status",
    "text/html",
    "charset=",
    "filename*=utf-8''..%2F",
    "base64",
    "quoted-printable",
    "\r\n ",
    "\x00",
    "é",
    "\udcff",
]
header_value = st.lists(st.one_of(st.sampled_from(TOKENS), st.text(max_size=12)), max_size=8).map(
    "".join
)


@st.composite
def structured_mail(draw: st.DrawFn) -> bytes:
    """Mails built from plausible pieces, so the fuzzing reaches MIME code paths."""
    boundary = draw(st.sampled_from(["b", "=_x", "", "b b"]))
    lines = []
    for _ in range(draw(st.integers(0, 10))):
        name = draw(st.one_of(st.sampled_from(HEADER_NAMES), st.text(min_size=1, max_size=10)))
        lines.append(f"{name}: {draw(header_value)}")
    if draw(st.booleans()):
        lines.append(
            f"Content-Type: multipart/{draw(st.sampled_from(['mixed', 'alternative']))}"
            f'; boundary="{boundary}"'
        )
    body_parts = []
    for _ in range(draw(st.integers(0, 4))):
        part_headers = [
            f"{n}: {draw(header_value)}"
            for n in draw(st.lists(st.sampled_from(HEADER_NAMES[12:17]), max_size=3))
        ]
        body_parts.append(
            f"--{boundary}\n" + "\n".join(part_headers) + "\n\n" + draw(st.text(max_size=80))
        )
    body = "\n".join(body_parts) + (f"\n--{boundary}--\n" if draw(st.booleans()) else "")
    text = "\n".join(lines) + "\n\n" + body
    return text.encode("utf-8", "surrogateescape")


@PROPERTY_SETTINGS
@given(structured_mail())
def test_structured_mail_never_raises(raw: bytes) -> None:
    check_invariants(parse(raw), raw)


SAMPLES = [p.read_bytes() for p in sorted(DATA.glob("*.eml"))]


@PROPERTY_SETTINGS
@given(
    st.sampled_from(SAMPLES),
    st.lists(st.tuples(st.floats(0, 1), st.integers(0, 40), st.binary(max_size=20)), max_size=6),
)
def test_mutated_samples_never_raise(base: bytes, edits: list[tuple[float, int, bytes]]) -> None:
    """Real mails with random cuts and insertions: reaches deep MIME paths."""
    raw = base
    for where, cut, insert in edits:
        i = int(where * len(raw))
        raw = raw[:i] + insert + raw[i + cut :]
    check_invariants(parse(raw), raw)


@PROPERTY_SETTINGS
@given(st.text(max_size=200))
def test_decode_header_value_never_raises(value: str) -> None:
    assert isinstance(decode_header_value(value), str)
    assert isinstance(extract_ids(value), list)


@PROPERTY_SETTINGS
@given(st.binary(max_size=200), st.one_of(st.none(), st.text(max_size=20)))
def test_decode_bytes_never_raises(data: bytes, charset: str | None) -> None:
    text, _ = decode_bytes(data, charset)
    assert isinstance(text, str)
