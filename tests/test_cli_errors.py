"""What the admin is told when mail cannot be sent: which of network, TLS, login or a
refusal is at fault, and a non-zero exit whenever something was not sent."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner

from mailticket.cli import main
from tests.conftest import mail
from tests.mailservers import free_port

pytestmark = pytest.mark.integration


class Refusing:
    """A server that takes the connection, offers no AUTH, and refuses every sender."""

    async def handle_MAIL(self, server, session, envelope, address, options):
        return "550 5.7.1 relaying denied for this sender"


class Taking:
    """A server without AUTH that would accept anything."""

    async def handle_DATA(self, server, session, envelope):
        return "250 OK"


def _server(handler) -> Iterator[int]:
    port = free_port()
    c = Controller(handler, hostname="127.0.0.1", port=port, server_hostname="test-smtp")
    c.start()
    try:
        yield port
    finally:
        c.stop()


@pytest.fixture
def no_auth_port() -> Iterator[int]:
    yield from _server(Taking())


@pytest.fixture
def refusing_port() -> Iterator[int]:
    yield from _server(Refusing())


def cli(w, *args):
    return CliRunner().invoke(main, ["--config", str(w.config_path), *args])


def _point_smtp_at(w, port: int) -> None:
    """Send through another server: the [outgoing] port is the first line ``port = N``."""
    old = re.search(r"^port = \d+$", w.config_path.read_text(), re.M)
    assert old is not None
    w.reconfigure(old.group(0), f"port = {port}")


def test_check_config_names_what_is_wrong_with_smtp(make_world, no_auth_port):
    w = make_world()
    _point_smtp_at(w, free_port())  # nothing listens there
    r = cli(w, "check-config")
    assert r.exit_code == 1
    assert "SMTP FAILED (unreachable)" in r.output and "connection refused" in r.output

    _point_smtp_at(w, no_auth_port)
    r = cli(w, "check-config")
    assert r.exit_code == 1
    assert "SMTP FAILED (authentication)" in r.output
    assert "does not offer AUTH" in r.output and "helpdesk" in r.output
    assert "cannot reach" not in r.output

    w.reconfigure('security = "none"\nusername', 'security = "starttls"\nusername')
    r = cli(w, "check-config")
    assert r.exit_code == 1 and "SMTP FAILED (tls)" in r.output
    assert "does not offer STARTTLS" in r.output


def test_check_config_wrong_password_is_an_authentication_failure(make_world):
    w = make_world()
    w.reconfigure('password = "relay-pw"', 'password = "nope"')
    r = cli(w, "check-config")
    assert r.exit_code == 1
    assert "SMTP FAILED (authentication)" in r.output and "login as helpdesk refused: 535" \
        in r.output


def _queue_a_mail(w) -> None:
    """A customer mail fetched while the server is unusable: its auto-response waits."""
    w.deliver("support", mail(f"jane@{w.domain}", w.addr("support"), "Hello", "x"))
    r = cli(w, "poll")
    assert r.exit_code == 1, r.output  # fetched, but the outbox could not send
    assert "support: 1 new mail(s)" in r.output


def test_outbox_retry_with_the_server_down_exits_1(make_world, caplog):
    w = make_world()
    _point_smtp_at(w, free_port())
    _queue_a_mail(w)
    r = cli(w, "outbox", "--retry")
    assert r.exit_code == 1, r.output
    assert "sent 0" in r.output and "unreachable" in r.output
    status = cli(w, "status")
    assert "outbox: 0 waiting" not in status.output
    assert "outbox last error: unreachable:" in status.output
    data = json.loads(cli(w, "status", "--json").output)
    assert data["outbox_last_error"]["error"].startswith("unreachable: 127.0.0.1:")


def test_a_server_without_auth_is_not_called_unreachable(make_world, no_auth_port, caplog):
    w = make_world()
    _point_smtp_at(w, no_auth_port)
    with caplog.at_level(logging.WARNING, logger="mailticket.outgoing.outbox"):
        _queue_a_mail(w)
    assert "authentication: " in caplog.text and "unreachable" not in caplog.text
    r = cli(w, "outbox", "--retry")
    assert r.exit_code == 1 and "authentication" in r.output
    assert "outbox last error: authentication: " in cli(w, "status").output


def test_a_refusing_server_is_a_refusal(make_world, refusing_port):
    w = make_world()
    _point_smtp_at(w, refusing_port)
    w.reconfigure('username = "helpdesk"\n', "")
    w.reconfigure('password = "relay-pw"\n', "")
    assert cli(w, "check-config").exit_code == 0  # connecting is fine; sending is not
    w.deliver("support", mail(f"jane@{w.domain}", w.addr("support"), "Hello", "x"))
    assert cli(w, "poll").exit_code == 0  # the poll itself worked; the mail is deferred
    r = cli(w, "outbox", "--retry")
    assert r.exit_code == 1 and "sent 0, deferred 3" in r.output  # reply, 2 agents
    rows = json.loads(cli(w, "outbox", "--json").output)
    assert rows[0]["last_error"].startswith("refused: sender support@")
    assert "550 5.7.1 relaying denied" in rows[0]["last_error"]
    assert "outbox last error: refused: sender" in cli(w, "status").output


def test_outbox_retry_that_sends_everything_exits_0(make_world):
    w = make_world()
    w.deliver("support", mail(f"jane@{w.domain}", w.addr("support"), "Hello", "x"))
    assert cli(w, "poll").exit_code == 0
    r = cli(w, "outbox", "--retry")
    assert r.exit_code == 0 and "sent 0" in r.output
    assert "outbox empty" in r.output
