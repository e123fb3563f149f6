"""Tests for mailticket.mail.parse: every field, hostile input, real-world samples."""

from __future__ import annotations

import os
import re
import sysconfig
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailticket.mail import parse as parse_mod
from mailticket.mail.classify import Verdict, classify
from mailticket.mail.parse import (
    Address,
    ParsedMail,
    decode_bytes,
    decode_header_value,
    extract_ids,
    parse,
)

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

    monkeypatch.setattr(parse_mod, "get_text", boom)
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
