"""Tests for mailticket.incoming.classify: one test per rule, the order, real samples."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailticket.incoming.classify import RULES, Kind, Verdict, classify, own_key
from mailticket.incoming.parse import ParsedMail, parse

DATA = Path(__file__).parent / "data"
OWN = frozenset({"support@example.com", "Sales@Example.com"})


def mail(headers: str, body: str = "Hello, I have a question about my order.\n") -> ParsedMail:
    """Parse a small inline mail; a customer From is added unless one is given."""
    if not any(line.lower().startswith("from:") for line in headers.splitlines()):
        headers = "From: Jane Customer <jane@customer.example>\n" + headers
    raw = headers.strip("\n") + "\nTo: support@example.com\nMessage-ID: <t@customer.example>"
    return parse((raw + "\n\n" + body).encode("utf-8"))


def verdict(headers: str, body: str = "Hi\n", **kw: object) -> Verdict:
    return classify(mail(headers, body), OWN, **kw)  # type: ignore[arg-type]


def test_rule_names_are_unique() -> None:
    names = [r.name for r in RULES]
    assert len(names) == len(set(names))


def test_plain_customer_mail() -> None:
    v = verdict("Subject: Where is my parcel?")
    assert v == Verdict(Kind.CUSTOMER, "default", "no machine signal")
    assert not v.is_machine


@pytest.mark.parametrize("kind", [k for k in Kind if k is not Kind.CUSTOMER])
def test_is_machine(kind: Kind) -> None:
    assert Verdict(kind, "r", "x").is_machine


# ---------------------------------------------------------------------------
# OWN
# ---------------------------------------------------------------------------


def test_loop_header() -> None:
    v = verdict("X-Mailticket-Loop: support@example.com")
    assert (v.kind, v.rule) == (Kind.OWN, "loop_header")
    assert "loop header" in v.reason


def test_custom_loop_header_name() -> None:
    assert verdict("X-Mailticket-Loop: x", loop_header="X-Other").kind is Kind.CUSTOMER
    assert verdict("X-Other: x", loop_header="X-Other").rule == "loop_header"


@pytest.mark.parametrize(
    "from_",
    [
        "support@example.com",
        "Example Support <SUPPORT@example.COM>",
        "sales@example.com",
        "support+1042-9f2c1a@example.com",
    ],
)
def test_own_address(from_: str) -> None:
    v = verdict(f"From: {from_}")
    assert (v.kind, v.rule) == (Kind.OWN, "own_address")


def test_own_addresses_given_in_plus_form() -> None:
    own = frozenset({"help+x@example.org"})
    assert classify(mail("From: help@example.org"), own).kind is Kind.OWN
    assert classify(mail("From: help+y@example.org"), own).kind is Kind.OWN


@pytest.mark.parametrize(
    "from_", ["support@example.com.evil", "support@other.example", "xsupport@example.com"]
)
def test_lookalikes_are_not_own(from_: str) -> None:
    assert verdict(f"From: {from_}").kind is not Kind.OWN


def test_own_key() -> None:
    assert own_key(" Support+Tag+More@Example.COM ") == "support@example.com"
    assert own_key("no-at-sign") == "no-at-sign"


# ---------------------------------------------------------------------------
# BOUNCE
# ---------------------------------------------------------------------------


def test_dsn_report() -> None:
    v = verdict(
        'Content-Type: multipart/report; report-type="delivery-status"; boundary="b"',
        "--b\nContent-Type: text/plain\n\nfailed\n--b--\n",
    )
    assert (v.kind, v.rule) == (Kind.BOUNCE, "dsn_report")


@pytest.mark.parametrize(
    "from_",
    [
        "MAILER-DAEMON@mx.example.net (Mail Delivery System)",
        "Mail Delivery Subsystem <mailer-daemon@relay.example>",
        "postmaster@example.net",
        "MAILER-DAEMON",
    ],
)
def test_mailer_daemon(from_: str) -> None:
    v = verdict(f"From: {from_}")
    assert (v.kind, v.rule) == (Kind.BOUNCE, "mailer_daemon")


@pytest.mark.parametrize("from_", ["MAILER_DAEMON@mx.example.net", "MailerDaemon@mx.example.net"])
def test_mailer_daemon_spellings_the_bounce_reader_knows(from_: str) -> None:
    """One vocabulary for parser and classifier: a spelling the bounce reader takes for
    a mail system makes a bounce, not an auto-reply (which would not reach its ticket)."""
    v = verdict(f"From: {from_}")
    assert (v.kind, v.rule) == (Kind.BOUNCE, "mailer_daemon")


@pytest.mark.parametrize(
    "rp", ["<MAILER-DAEMON@sb7.example.com>", "<MAILER-DAEMON>", "mailer-daemon@x.example"]
)
def test_mailer_daemon_return_path(rp: str) -> None:
    v = verdict(f"Return-Path: {rp}\nFrom: Mail Delivery System <mds@x.example>")
    assert (v.kind, v.rule) == (Kind.BOUNCE, "mailer_daemon")
    assert "Return-Path" in v.reason


def test_failed_recipients() -> None:
    v = verdict("X-Failed-Recipients: gone@example.de")
    assert (v.kind, v.rule) == (Kind.BOUNCE, "failed_recipients")


@pytest.mark.parametrize(
    "subject",
    [
        "Undelivered Mail Returned to Sender",
        "Delivery Status Notification (Failure)",
        "Mail delivery failed: returning message to sender",
        "Undeliverable: [Support #12] Your question",
        "Returned mail: see transcript for details",
        "failure notice",
        "Non remis : Votre demande",
        "Unzustellbar: Ihre Anfrage",
        "Mail Delivery Warning",
        "Warning: could not send message for past 4 hours",
    ],
)
def test_null_sender_with_dsn_subject(subject: str) -> None:
    v = verdict(f"Return-Path: <>\nSubject: {subject}")
    assert (v.kind, v.rule) == (Kind.BOUNCE, "dsn_subject")


def test_dsn_subject_needs_null_sender() -> None:
    v = verdict("Return-Path: <jane@customer.example>\nSubject: Undeliverable: my parcel")
    assert v.kind is Kind.CUSTOMER


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        ("Delivery failure", "Hi, my order #123 could not be delivered to my address.\n"),
        ("Re: Delivery failed", "The courier says the parcel was not delivered to\n12 Main St\n"),
        ("Undeliverable: my parcel", "My mail could not be delivered to joe@customer.example.\n"),
        ("Fwd: Undeliverable: hello", "Why did this bounce?\n\n-----\nReceived: from x\n"),
        (
            "FW: Mail delivery failed",
            "See below.\n\nThe following address failed:\n\n  a@b.example\n",
        ),
    ],
)
def test_people_writing_about_failed_deliveries_are_customers(subject: str, body: str) -> None:
    """A delivery-report subject from a person, with no machine sign, is a customer;
    a forwarded bounce ("Fwd:") is a person asking about it."""
    v = verdict(f"Return-Path: <jane@customer.example>\nSubject: {subject}", body)
    assert v.kind is Kind.CUSTOMER, v


def test_dsn_subject_suffix_with_listed_recipient() -> None:
    """flufl simple_20: a gateway's bounce from an ordinary address, Return-Path = From,
    the DSN words at the end of the subject."""
    v = verdict(
        "From: Dsicspiibs.spi-internet@gateway.example\n"
        "Return-Path: <Dsicspiibs.spi-internet@gateway.example>\n"
        "Subject: RE: Your message awaits approval : non remis\n\t(delivery failed)",
        "****************\nVotre message n'a pas pu etre delivre a\njane@client.example\n\n"
        "****************\nYour message could not be delivered to\njane@client.example\n",
    )
    assert (v.kind, v.rule) == (Kind.BOUNCE, "dsn_subject")
    assert "jane@client.example" in v.reason


def test_dsn_subject_of_a_virus_gateway_delay() -> None:
    """flufl simple_22: "Delivery failure notification" from a gateway's own address."""
    v = verdict(
        "From: Symantec_AntiVirus_for_SMTP_Gateways@gw.example\n"
        "Return-Path: <Symantec_AntiVirus_for_SMTP_Gateways@gw.example>\n"
        "Subject: =?utf-8?B?RGVsaXZlcnkgZmFpbHVyZSBub3RpZmljYXRpb24=?=",
        "Your message with Subject: Re: Bike lost and found\n"
        "could not be delivered to the following recipients:\n\nUser@client.example\n\n"
        "Delivery attempts will continue to be made for 5 day(s).\n",
    )
    assert (v.kind, v.rule) == (Kind.BOUNCE, "dsn_subject")


def test_dsn_subject_from_ndr_with_batv_return_path() -> None:
    """flufl simple_43: From ndr@, Return-Path prvs=…=ndr@ (BATV), the original attached."""
    v = verdict(
        "From: ndr@some.example\nReturn-Path: <prvs=126700a846=ndr@some.example>\n"
        "Subject: Mail delivery failed: returning message to sender\n"
        'Content-Type: multipart/mixed; boundary="b"',
        "--b\nContent-Type: text/plain\n\nThis message was created automatically by mail "
        "delivery software.\nOne or more of the recipients are not a valid user.\n"
        "--b\nContent-Type: message/rfc822\n\nFrom: support@example.com\n"
        "Message-ID: <mt.9@example.com>\nSubject: x\n\nbody\n--b--\n",
    )
    assert (v.kind, v.rule) == (Kind.BOUNCE, "dsn_subject")
    assert "ndr@some.example" in v.reason


@pytest.mark.parametrize("rp", ["<prvs=0a1b2c3d=ndr@some.example>", "<postmaster@some.example>"])
def test_dsn_subject_with_bounce_return_path(rp: str) -> None:
    v = verdict(f"From: Mail System <mail@some.example>\nReturn-Path: {rp}\nSubject: Undeliverable")
    assert (v.kind, v.rule) == (Kind.BOUNCE, "dsn_subject")


def test_dsn_subject_with_embedded_original_headers() -> None:
    v = verdict(
        "From: E500_SMTP_Mail_Service@isp.example\nReturn-Path: <list-bounces@lists.example>\n"
        "Subject: Returned Mail - Error During Delivery",
        "------ Failed Recipients ------\n\n"
        "<jane@client.example>: Requested action not taken: mailbox unavailable.\n"
        "-------- Returned Mail --------\n\nReceived: from lists.example by isp.example\n",
    )
    assert (v.kind, v.rule) == (Kind.BOUNCE, "dsn_subject")


def test_bounce_evidence_beats_x_autoreply() -> None:
    """flufl simple_01: a list relays an MDaemon bounce with X-Autogenerated: Mirror; it
    must be a BOUNCE (attached to its ticket), not merely an auto-reply."""
    v = verdict(
        "From: MDaemon@receive.example\nReturn-Path: <list-admin@lists.example>\n"
        "Subject: Permanent Delivery Failure\nX-Autogenerated: Mirror\nPrecedence: bulk\n"
        'Content-Type: multipart/mixed; boundary="b"',
        "--b\nContent-Type: text/plain\n\nThe attached message had PERMANENT fatal delivery "
        "errors!\n\nThe following addresses did NOT receive a copy of your message:\n\n"
        "> jane@client.example\n\n--b\nContent-Type: message/rfc822\n\nSubject: x\n\nx\n--b--\n",
    )
    assert (v.kind, v.rule) == (Kind.BOUNCE, "dsn_subject")


def test_failure_notice_beats_precedence_bulk() -> None:
    """flufl simple_27: MDaemon's "Warning: a@b - User unknown!" through a list."""
    v = verdict(
        "From: MDaemon@webmail.example\nReturn-Path: <MDaemon@webmail.example>\n"
        "Subject: Warning: jane@client.example - User unknown!\nPrecedence: bulk\n"
        'Content-Type: multipart/mixed; boundary="b"',
        "--b\nContent-Type: text/plain\n\njane@client.example - no such user here.\n\n"
        "There is no user by that name at this server.\n"
        "--b\nContent-Type: message/rfc822\n\nSubject: x\n\nx\n--b--\n",
    )
    assert (v.kind, v.rule) == (Kind.BOUNCE, "failure_notice")


def test_failure_notice_needs_a_bounce_sender() -> None:
    v = verdict(
        "Subject: Warning: jane@client.example - User unknown!\nPrecedence: bulk",
        "jane@client.example - no such user here.\n",
    )
    assert v.kind is not Kind.BOUNCE


# ---------------------------------------------------------------------------
# AUTO_REPLY
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["auto-replied", "auto-generated", "Auto-Replied", "auto-replied; owner-email=x@y", "yes"],
)
def test_auto_submitted(value: str) -> None:
    v = verdict(f"Auto-Submitted: {value}")
    assert (v.kind, v.rule) == (Kind.AUTO_REPLY, "auto_submitted")
    assert v.reason.startswith("Auto-Submitted: ")


@pytest.mark.parametrize("value", ["no", "No", " no ; comment=1"])
def test_auto_submitted_no_is_a_person(value: str) -> None:
    assert verdict(f"Auto-Submitted: {value}").kind is Kind.CUSTOMER


@pytest.mark.parametrize(
    "header", ["X-Autoreply: yes", "X-Autorespond: 1", "X-AutoGenerated: true", "X-Autoreply:"]
)
def test_x_autoreply(header: str) -> None:
    v = verdict(header)
    assert (v.kind, v.rule) == (Kind.AUTO_REPLY, "x_autoreply")


def test_x_autoreply_negative_value() -> None:
    assert verdict("X-Autoreply: no").kind is Kind.CUSTOMER


@pytest.mark.parametrize("value", ["All", "OOF, AutoReply", "DR, RN, NRN, OOF, AutoReply"])
def test_outlook_suppress_alone_is_a_person(value: str) -> None:
    # Outlook puts this header on ordinary mail from people.
    assert verdict(f"X-Auto-Response-Suppress: {value}").kind is Kind.CUSTOMER


@pytest.mark.parametrize(
    "extra", ["X-MS-Exchange-Inbox-Rules-Loop: jane@customer.example", "Return-Path: <>"]
)
def test_outlook_suppress_with_hint(extra: str) -> None:
    v = verdict(f"X-Auto-Response-Suppress: All\n{extra}")
    assert (v.kind, v.rule) == (Kind.AUTO_REPLY, "auto_response_suppress")


def test_outlook_suppress_other_values_with_hint() -> None:
    v = verdict("X-Auto-Response-Suppress: DR, RN\nReturn-Path: <>")
    assert v.rule == "null_return_path"


def test_precedence_auto_reply() -> None:
    v = verdict("Precedence: Auto_Reply")
    assert (v.kind, v.rule) == (Kind.AUTO_REPLY, "precedence_auto_reply")


@pytest.mark.parametrize("rtype", ["disposition-notification", "feedback-report", None])
def test_other_reports(rtype: str | None) -> None:
    param = f"; report-type={rtype}" if rtype else ""
    v = verdict(f'Content-Type: multipart/report{param}; boundary="b"', "--b\n\nx\n--b--\n")
    assert (v.kind, v.rule) == (Kind.AUTO_REPLY, "machine_report")


@pytest.mark.parametrize(
    "subject",
    [
        "Out of Office",
        "Out of Office: [Support #5] Question",
        "Out of the office (back Monday)",
        "Out of Office AutoReply: invoice",
        "OOO - back on the 4th",
        "Automatic reply: [Support #1042] Your invoice question",
        "Auto-Reply: thanks",
        "[Auto-Reply] thanks",
        "AutoReply",
        "Autosvar: Fråga",
        "Automatisk svar: Spørsmål",
        "Réponse automatique : Votre demande",
        "Reponse automatique: sans accents",
        "Respuesta automática: Pedido",
        "Risposta automatica: Ordine",
        "Automatische Antwort: Ihre Anfrage",
        "Abwesenheitsnotiz: Ihre Anfrage",
        "Automatisch antwoord: Uw vraag",
        "Автоматичен отговор: Въпрос",
        "Автоматический ответ: Вопрос",
        "自动回复: 您的问题",
        "Jane Doe is out of the office.",
    ],
)
def test_auto_reply_subject(subject: str) -> None:
    v = verdict(f"Subject: {subject}")
    assert (v.kind, v.rule) == (Kind.AUTO_REPLY, "auto_reply_subject")


@pytest.mark.parametrize(
    "subject",
    [
        "Out of office hours support?",
        "Re: Automatic reply: Your question",
        "Question about automatic replies",
        "Automatically renewed subscription",
        "Outlook problem",
        "Oooh, nice product",
        "",
    ],
)
def test_people_subjects_are_not_auto_replies(subject: str) -> None:
    assert verdict(f"Subject: {subject}").kind is Kind.CUSTOMER


def test_encoded_auto_reply_subject() -> None:
    v = verdict("Subject: =?utf-8?q?R=C3=A9ponse_automatique=C2=A0:_Commande?=")
    assert v.rule == "auto_reply_subject"


# ---------------------------------------------------------------------------
# LIST
# ---------------------------------------------------------------------------


def test_list_id() -> None:
    v = verdict("List-Id: Users <users.lists.example.org>")
    assert (v.kind, v.rule) == (Kind.LIST, "list_id")


def test_list_unsubscribe() -> None:
    v = verdict("List-Unsubscribe: <mailto:leave@news.example>")
    assert (v.kind, v.rule) == (Kind.LIST, "list_unsubscribe")


@pytest.mark.parametrize("value", ["bulk", "junk", "list", " Bulk "])
def test_precedence_bulk(value: str) -> None:
    v = verdict(f"Precedence: {value}")
    assert (v.kind, v.rule) == (Kind.LIST, "precedence_bulk")


def test_precedence_first_class_is_a_person() -> None:
    assert verdict("Precedence: first-class").kind is Kind.CUSTOMER


# ---------------------------------------------------------------------------
# Weak hints
# ---------------------------------------------------------------------------


def test_null_return_path() -> None:
    v = verdict("Return-Path: <>\nSubject: Hello")
    assert (v.kind, v.rule) == (Kind.AUTO_REPLY, "null_return_path")


@pytest.mark.parametrize(
    "from_",
    [
        "noreply@shop.example",
        "No-Reply <no-reply@shop.example>",
        "donotreply@bank.example",
        "do-not-reply@bank.example",
        "do_not_reply@bank.example",
        "noreply-notifications@code.example",
        "no.reply+abc@shop.example",
    ],
)
def test_noreply_sender(from_: str) -> None:
    v = verdict(f"From: {from_}")
    assert (v.kind, v.rule) == (Kind.AUTO_REPLY, "noreply_sender")


def test_noreply_in_sender_header() -> None:
    v = verdict("Sender: noreply@forms.example")
    assert (v.kind, v.rule) == (Kind.AUTO_REPLY, "noreply_sender")
    assert "Sender" in v.reason


@pytest.mark.parametrize("from_", ["norene@x.example", "reply@x.example", "info@noreply.example"])
def test_noreply_lookalikes_are_people(from_: str) -> None:
    assert verdict(f"From: {from_}").kind is Kind.CUSTOMER


# ---------------------------------------------------------------------------
# Order
# ---------------------------------------------------------------------------


def test_own_beats_everything() -> None:
    v = verdict("From: support@example.com\nAuto-Submitted: auto-replied\nList-Id: <x>")
    assert v.rule == "own_address"


def test_bounce_beats_auto_submitted() -> None:
    v = verdict("From: MAILER-DAEMON@mx.example\nAuto-Submitted: auto-replied")
    assert v.kind is Kind.BOUNCE


def test_auto_reply_beats_list() -> None:
    v = verdict("Auto-Submitted: auto-replied\nList-Id: <x.example>\nPrecedence: bulk")
    assert v.kind is Kind.AUTO_REPLY


def test_list_beats_null_return_path() -> None:
    assert verdict("Return-Path: <>\nList-Id: <x.example>").kind is Kind.LIST


def test_classify_tolerates_empty_mail() -> None:
    m = ParsedMail(raw=b"", message_id="<x@y>", synthetic_id=True)
    assert classify(m, frozenset()).kind is Kind.CUSTOMER


def test_a_failing_rule_is_skipped() -> None:
    m = mail("Subject: hi")
    m.headers = {"auto-submitted": [None]}  # type: ignore[list-item]
    assert classify(m, OWN).kind is Kind.CUSTOMER


# ---------------------------------------------------------------------------
# Samples
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind", "rule"),
    [
        ("exchange_oof.eml", Kind.AUTO_REPLY, "auto_submitted"),
        ("gmail_vacation.eml", Kind.AUTO_REPLY, "auto_submitted"),
        ("postfix_bounce.eml", Kind.BOUNCE, "dsn_report"),
        ("exim_bounce.eml", Kind.BOUNCE, "mailer_daemon"),
        ("sendmail_bounce.eml", Kind.BOUNCE, "dsn_report"),
        ("list_post.eml", Kind.LIST, "list_id"),
        ("customer_fr_attachment.eml", Kind.CUSTOMER, "default"),
        ("html_only.eml", Kind.CUSTOMER, "default"),
        ("undeclared_8bit_utf8.eml", Kind.CUSTOMER, "default"),
        ("wrong_charset_declared_latin1.eml", Kind.CUSTOMER, "default"),
        ("wrong_charset_declared_utf8.eml", Kind.CUSTOMER, "default"),
        ("broken_encoded_words.eml", Kind.CUSTOMER, "default"),
        ("rfc2231_path_filename.eml", Kind.CUSTOMER, "default"),
        ("nul_bytes.eml", Kind.CUSTOMER, "default"),
        ("header_injection.eml", Kind.CUSTOMER, "default"),
    ],
)
def test_samples(name: str, kind: Kind, rule: str) -> None:
    v = classify(parse((DATA / name).read_bytes()), OWN)
    assert (v.kind, v.rule) == (kind, rule)


def test_exchange_oof_without_auto_submitted() -> None:
    """Older Exchange: only the suppress header plus the rules-loop header."""
    raw = (DATA / "exchange_oof.eml").read_bytes().replace(b"Auto-Submitted: auto-generated\n", b"")
    raw = raw.replace(b"Return-Path: <>\n", b"")
    v = classify(parse(raw), OWN)
    assert v.rule == "auto_response_suppress"


def test_bounce_of_our_own_mail_is_a_bounce_not_own() -> None:
    # The returned original carries our loop header, but only inside the
    # attachment: the bounce itself must be recognised as a bounce.
    v = classify(parse((DATA / "postfix_bounce.eml").read_bytes()), OWN)
    assert v.kind is Kind.BOUNCE


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "auto-submitted",
                "precedence",
                "list-id",
                "x-auto-response-suppress",
                "content-type",
                "x-mailticket-loop",
                "subject",
            ]
        ),
        st.lists(st.text(max_size=30), max_size=2),
    ),
    st.one_of(st.none(), st.text(max_size=10)),
    st.text(max_size=40),
)
def test_classify_never_raises(headers: dict[str, list[str]], rp: str | None, subj: str) -> None:
    m = ParsedMail(raw=b"", message_id="<x@y>", synthetic_id=False)
    m.headers, m.return_path, m.subject = headers, rp, subj
    m.content_type = "multipart/report" if "content-type" in headers else "text/plain"
    v = classify(m, frozenset({"a@b"}))
    assert isinstance(v.kind, Kind) and v.rule and v.reason
