"""Prove the mail-server fixtures behave as the integration tests will rely on them."""

from __future__ import annotations

import email
import smtplib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.mailservers import Dovecot, SmtpRelay

pytestmark = pytest.mark.integration

SUPPORT = "support@example.com"
CUSTOMER = "customer@example.org"


def make_mail(subject: str, body: str = "Hello.", to: str = SUPPORT) -> bytes:
    return (
        f"From: Someone <someone@example.net>\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject.replace(' ', '-')}@example.net>\r\n\r\n{body}\r\n"
    ).encode()


def subject_of(raw: bytes) -> str:
    return str(email.message_from_bytes(raw)["Subject"])


def port_refuses(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except ConnectionRefusedError:
        return True


# Function-scoped on purpose (these tests stop, kill and restart servers), and named
# apart from conftest's session-wide `dovecot`/`relay` so nothing shadows them.
@pytest.fixture
def own_dovecot(tmp_path: Path) -> Iterator[Dovecot]:
    with Dovecot(tmp_path / "dovecot") as server:
        yield server


@pytest.fixture
def own_relay(own_dovecot: Dovecot) -> Iterator[SmtpRelay]:
    with SmtpRelay(own_dovecot) as server:
        yield server


def test_start_is_fast_and_stop_frees_the_ports(tmp_path: Path) -> None:
    server = Dovecot(tmp_path / "dovecot")
    began = time.monotonic()
    server.start()
    elapsed = time.monotonic() - began
    try:
        assert elapsed < 2.0, f"Dovecot took {elapsed:.2f}s to start"
        assert server.pid_path.exists()
        assert not port_refuses(server.imap_port)
        assert not port_refuses(server.lmtp_port)
    finally:
        server.stop()
    assert not server.running
    assert port_refuses(server.imap_port)
    assert port_refuses(server.lmtp_port)
    # Freed for real: a new listener can take the port.
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", server.imap_port))
        sock.listen()


def test_append_then_messages_in_uid_order(own_dovecot: Dovecot) -> None:
    first, second = make_mail("first"), make_mail("second")
    uid1 = own_dovecot.append(SUPPORT, first)
    uid2 = own_dovecot.append(SUPPORT, second)
    assert uid1 is not None and uid2 is not None and uid1 < uid2
    assert own_dovecot.messages(SUPPORT) == [first, second]
    # Other mailboxes and folders stay separate; a missing folder is created by append.
    assert own_dovecot.messages(CUSTOMER) == []
    own_dovecot.append(SUPPORT, make_mail("archived"), folder="Archive/2024")
    assert [subject_of(m) for m in own_dovecot.messages(SUPPORT, "Archive/2024")] == ["archived"]
    assert len(own_dovecot.messages(SUPPORT)) == 2


def test_messages_does_not_set_seen(own_dovecot: Dovecot) -> None:
    own_dovecot.append(SUPPORT, make_mail("unread"))
    own_dovecot.messages(SUPPORT)
    own_dovecot.wait_for_messages(SUPPORT, 1)
    with own_dovecot.client(SUPPORT) as client:
        client.select_folder("INBOX", readonly=True)
        flags = client.get_flags(client.search(["ALL"]))
    assert flags and all(b"\\Seen" not in f for f in flags.values()), flags


def test_smtp_mail_to_two_recipients_lands_once_in_each(
    own_dovecot: Dovecot, own_relay: SmtpRelay
) -> None:
    raw = make_mail("two recipients", to=f"{SUPPORT}, {CUSTOMER}")
    with smtplib.SMTP(own_relay.host, own_relay.port, timeout=10) as smtp:
        refused = smtp.sendmail("sender@example.net", [SUPPORT, CUSTOMER], raw)
    assert refused == {}
    for user in (SUPPORT, CUSTOMER):
        got = own_dovecot.wait_for_messages(user, 1)
        assert len(got) == 1
        message = email.message_from_bytes(got[0])
        assert message["Subject"] == "two recipients"
        assert message["Delivered-To"] == user
        assert message["Return-Path"] == "<sender@example.net>"
    time.sleep(0.3)  # a duplicate delivery would show up by now
    assert len(own_dovecot.messages(SUPPORT)) == 1
    assert len(own_dovecot.messages(CUSTOMER)) == 1
    assert own_relay.received == [("sender@example.net", [SUPPORT, CUSTOMER], raw)]


def test_lmtp_delivery_normalises_address_and_plus_detail(own_dovecot: Dovecot) -> None:
    own_dovecot.deliver_lmtp("Support+ticket-42@Example.COM", make_mail("plus address"))
    assert [subject_of(m) for m in own_dovecot.wait_for_messages(SUPPORT, 1)] == ["plus address"]


def test_restart_keeps_mail_and_ports(own_dovecot: Dovecot, own_relay: SmtpRelay) -> None:
    own_dovecot.append(SUPPORT, make_mail("before restart"))
    ports = (own_dovecot.imap_port, own_dovecot.lmtp_port, own_relay.port)
    own_dovecot.restart()
    own_relay.restart()
    assert (own_dovecot.imap_port, own_dovecot.lmtp_port, own_relay.port) == ports
    with smtplib.SMTP(own_relay.host, own_relay.port, timeout=10) as smtp:
        smtp.sendmail("sender@example.net", [SUPPORT], make_mail("after restart"))
    got = own_dovecot.wait_for_messages(SUPPORT, 2)
    assert [subject_of(m) for m in got] == ["before restart", "after restart"]


def test_outage_gives_smtp_4xx_then_recovers(own_dovecot: Dovecot, own_relay: SmtpRelay) -> None:
    own_dovecot.stop()
    with (
        smtplib.SMTP(own_relay.host, own_relay.port, timeout=10) as smtp,
        pytest.raises(smtplib.SMTPDataError) as failure,
    ):
        smtp.sendmail("sender@example.net", [SUPPORT], make_mail("during outage"))
    assert 400 <= failure.value.smtp_code < 500
    assert own_relay.received == []
    own_dovecot.start()
    with smtplib.SMTP(own_relay.host, own_relay.port, timeout=10) as smtp:
        smtp.sendmail("sender@example.net", [SUPPORT], make_mail("after outage"))
    assert [subject_of(m) for m in own_dovecot.wait_for_messages(SUPPORT, 1)] == ["after outage"]


def test_stop_ends_imap_sessions_with_bye(own_dovecot: Dovecot) -> None:
    client = own_dovecot.client(SUPPORT)
    client.select_folder("INBOX")
    client.idle()
    own_dovecot.stop()
    assert port_refuses(own_dovecot.imap_port)
    try:
        responses = client.idle_check(timeout=2)
    finally:
        client.shutdown()
    assert responses and responses[0][0] == b"BYE", responses


def test_kill_drops_sessions_and_restarts_cleanly(own_dovecot: Dovecot) -> None:
    own_dovecot.append(SUPPORT, make_mail("survives a crash"))
    client = own_dovecot.client(SUPPORT)
    client.select_folder("INBOX")
    client.idle()
    own_dovecot.kill()
    assert port_refuses(own_dovecot.imap_port)
    try:
        assert client.idle_check(timeout=2) == []  # EOF without a BYE
    except OSError:
        pass  # or a reset: either way no goodbye
    finally:
        client.shutdown()
    own_dovecot.start()
    assert [subject_of(m) for m in own_dovecot.messages(SUPPORT)] == ["survives a crash"]


def test_idle_is_woken_by_lmtp_delivery(own_dovecot: Dovecot) -> None:
    with own_dovecot.client(SUPPORT) as client:
        client.select_folder("INBOX")
        client.idle()
        own_dovecot.deliver_lmtp(SUPPORT, make_mail("wake up"))
        deadline = time.monotonic() + 5
        events: list[tuple[int | bytes, ...]] = []
        while not events and time.monotonic() < deadline:
            events = [e for e in client.idle_check(timeout=1) if e[1:2] == (b"EXISTS",)]
        client.idle_done()
    assert events, "IDLE did not report the new message"


def test_wait_for_messages_times_out_with_a_helpful_message(own_dovecot: Dovecot) -> None:
    own_dovecot.append(SUPPORT, make_mail("only one"))
    began = time.monotonic()
    with pytest.raises(AssertionError, match=r"at least 2 .*found 1.*only one"):
        own_dovecot.wait_for_messages(SUPPORT, 2, timeout=0.3)
    assert time.monotonic() - began < 3


def test_smtp_auth_required_when_configured(own_dovecot: Dovecot) -> None:
    with SmtpRelay(own_dovecot, auth={"helpdesk": "s3cret"}) as relay:
        with smtplib.SMTP(relay.host, relay.port, timeout=10) as smtp:
            with pytest.raises(smtplib.SMTPSenderRefused) as refused:
                smtp.sendmail("helpdesk@example.com", [CUSTOMER], make_mail("no auth"))
            assert refused.value.smtp_code == 530
        with smtplib.SMTP(relay.host, relay.port, timeout=10) as smtp:
            with pytest.raises(smtplib.SMTPAuthenticationError) as wrong:
                smtp.login("helpdesk", "wrong")
            assert wrong.value.smtp_code == 535
        with smtplib.SMTP(relay.host, relay.port, timeout=10) as smtp:
            smtp.login("helpdesk", "s3cret")
            smtp.sendmail("helpdesk@example.com", [CUSTOMER], make_mail("with auth"))
        assert [r.mail_from for r in relay.received] == ["helpdesk@example.com"]
    assert [subject_of(m) for m in own_dovecot.wait_for_messages(CUSTOMER, 1)] == ["with auth"]


def test_smtp_without_auth_option_offers_no_auth(own_relay: SmtpRelay) -> None:
    with smtplib.SMTP(own_relay.host, own_relay.port, timeout=10) as smtp:
        smtp.ehlo()
        assert not smtp.has_extn("auth")


def test_relay_stop_frees_its_port(own_dovecot: Dovecot) -> None:
    relay = SmtpRelay(own_dovecot)
    relay.start()
    assert not port_refuses(relay.port)
    relay.stop()
    assert port_refuses(relay.port)


def test_two_instances_are_isolated(tmp_path: Path) -> None:
    with Dovecot(tmp_path / "one") as one, Dovecot(tmp_path / "two") as two:
        assert len({one.imap_port, one.lmtp_port, two.imap_port, two.lmtp_port}) == 4
        one.append(SUPPORT, make_mail("in one"))
        assert two.messages(SUPPORT) == []
        assert [subject_of(m) for m in one.messages(SUPPORT)] == ["in one"]


def test_seed_inbox_is_visible_over_imap(own_dovecot: Dovecot) -> None:
    assert own_dovecot.seed_inbox(SUPPORT, [make_mail(f"seed {i}") for i in range(50)]) == 50
    got = own_dovecot.wait_for_messages(SUPPORT, 50)
    assert sorted(subject_of(m) for m in got) == sorted(f"seed {i}" for i in range(50))


def test_long_directory_paths_still_work(tmp_path: Path) -> None:
    deep = tmp_path / ("x" * 60) / ("y" * 60)  # too long for Dovecot's unix sockets
    with Dovecot(deep) as server:
        assert len(str(server.base_dir)) < len(str(deep))
        server.append(SUPPORT, make_mail("deep"))
        assert len(server.messages(SUPPORT)) == 1
        base_dir = server.base_dir
    assert not base_dir.exists()


def test_missing_binary_gives_install_hint(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="apt-get install dovecot-imapd dovecot-lmtpd"):
        Dovecot(tmp_path / "d", binary=str(tmp_path / "no-such-dovecot")).start()
