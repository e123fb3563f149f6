"""TLS in transit against servers whose certificate comes from a private test CA: IMAP
and the SMTP relay refuse it without ``ca_file`` (an error naming the host and why) and
accept it with it; the built-in listener offers STARTTLS when given a certificate."""

from __future__ import annotations

import json
import smtplib
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailticket.app import App
from mailticket.config import ConfigError, parse_config
from mailticket.ingest.listener import Listener
from tests.builders import ONE_DAY, PARIS_OFFICE, config_toml, department, maildir, sqlite
from tests.conftest import mail
from tests.mailservers import CaCertificates, Dovecot, SmtpRelay, free_port, make_test_ca

pytestmark = pytest.mark.integration
DOMAIN = "tls.example"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CaCertificates:
    return make_test_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def tls_dovecot(tmp_path_factory, certs) -> Iterator[Dovecot]:
    with Dovecot(tmp_path_factory.mktemp("dovecot-tls"), tls=certs) as server:
        yield server


@pytest.fixture(scope="module")
def tls_relay(tls_dovecot, certs) -> Iterator[SmtpRelay]:
    with SmtpRelay(tls_dovecot, auth={"helpdesk": "relay-pw"}, tls=certs) as relay:
        yield relay


def write_config(tmp_path: Path, imap: dict, outgoing: dict | None = None,
                 listener: dict | None = None) -> Path:
    path = tmp_path / "tls.toml"
    path.write_text(config_toml(
        database=sqlite(tmp_path), outgoing=outgoing or maildir(tmp_path),
        calendar=PARIS_OFFICE, sla=ONE_DAY, tables={"listener": listener} if listener else None,
        departments=[department("support", DOMAIN, agents=["alice"], imap=imap)]))
    return path


def imap(dovecot: Dovecot, security: str, ca_file: Path | None = None) -> dict:
    port = dovecot.imaps_port if security == "tls" else dovecot.imap_port
    login = {"host": "127.0.0.1", "port": port, "security": security,
             "username": f"support@{DOMAIN}", "password": Dovecot.PASSWORD, "timeout": 10}
    return {**login, "ca_file": str(ca_file)} if ca_file else login


def check(path: Path) -> tuple[int, list[dict]]:
    done = subprocess.run([sys.executable, "-m", "mailticket", "--config", str(path),
                           "check-config", "--json"], capture_output=True, text=True,
                          timeout=60)
    return done.returncode, json.loads(done.stdout)["checks"]


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_imap_refuses_a_private_ca_without_ca_file_and_accepts_it_with(tmp_path, tls_dovecot,
                                                                       certs, security):
    code, checks = check(write_config(tmp_path, imap(tls_dovecot, security)))
    got = next(c for c in checks if c["name"] == "imap")
    assert code == 1 and got["kind"] == "tls", got
    port = tls_dovecot.imaps_port if security == "tls" else tls_dovecot.imap_port
    assert f"127.0.0.1:{port}" in got["detail"] and "certificate not accepted" in got["detail"]
    assert "certificate verify failed" in got["detail"] or "issuer" in got["detail"], got
    assert "ca_file" in got["detail"]

    code, checks = check(write_config(tmp_path, imap(tls_dovecot, security, certs.ca_file)))
    got = next(c for c in checks if c["name"] == "imap")
    assert got["ok"], got


def test_mail_is_fetched_over_tls_with_the_private_ca(tmp_path, tls_dovecot, certs):
    path = write_config(tmp_path, imap(tls_dovecot, "tls", certs.ca_file))
    tls_dovecot.append(f"support@{DOMAIN}", bytes(mail(
        "Ann <ann@customer.example>", f"support@{DOMAIN}", "Over TLS", "Hello over TLS.")))
    done = subprocess.run([sys.executable, "-m", "mailticket", "--config", str(path), "poll",
                           "--once"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    done = subprocess.run([sys.executable, "-m", "mailticket", "--config", str(path),
                           "tickets", "--json"], capture_output=True, text=True, timeout=60)
    assert [t["subject"] for t in json.loads(done.stdout)] == ["Over TLS"]


def test_smtp_relay_refuses_a_private_ca_without_ca_file_and_accepts_it_with(
        tmp_path, tls_dovecot, tls_relay, certs):
    out = {"transport": "smtp", "host": "127.0.0.1", "port": tls_relay.port,
           "security": "starttls", "username": "helpdesk", "password": "relay-pw"}
    code, checks = check(write_config(tmp_path, imap(tls_dovecot, "tls", certs.ca_file), out))
    got = next(c for c in checks if c["name"] == "smtp")
    assert code == 1 and got["kind"] == "tls", got
    assert f"127.0.0.1:{tls_relay.port}" in got["detail"]
    assert "certificate not accepted" in got["detail"] and "outgoing.ca_file" in got["detail"]

    out["ca_file"] = str(certs.ca_file)
    code, checks = check(write_config(tmp_path, imap(tls_dovecot, "tls", certs.ca_file), out))
    assert code == 0 and all(c["ok"] for c in checks), checks


def test_the_listener_offers_starttls_with_a_certificate(tmp_path, certs, tls_dovecot):
    port = free_port()
    listen = {"enabled": True, "host": "127.0.0.1", "port": port,
              "tls_cert": str(certs.cert_file), "tls_key": str(certs.key_file)}
    path = write_config(tmp_path, imap(tls_dovecot, "tls", certs.ca_file), listener=listen)
    app = App(parse_config(path.read_text(), str(path)))
    app.ensure_schema()
    listener = Listener(app)
    listener.start()
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
            s.ehlo()
            assert s.has_extn("starttls")
            # The private CA is not trusted by default.
            with pytest.raises(ssl.SSLCertVerificationError), smtplib.SMTP(
                    "127.0.0.1", port, timeout=10) as other:
                other.starttls(context=ssl.create_default_context())
            s.starttls(context=ssl.create_default_context(cafile=certs.ca_file))
            s.ehlo()
            s.sendmail("ann@customer.example", [f"support@{DOMAIN}"], bytes(mail(
                "Ann <ann@customer.example>", f"support@{DOMAIN}", "Sent with STARTTLS",
                "Hello.")))
        deadline = time.monotonic() + 10
        from mailticket.store.models import Ticket

        while time.monotonic() < deadline:
            with app.db.read() as db:
                subjects = [t.subject for t in db.query(Ticket)]
            if subjects:
                break
            time.sleep(0.05)
        assert subjects == ["Sent with STARTTLS"]
    finally:
        listener.stop()
        app.close()


def test_the_listener_without_a_certificate_offers_no_starttls(tmp_path, certs, tls_dovecot):
    port = free_port()
    path = write_config(tmp_path, imap(tls_dovecot, "tls", certs.ca_file),
                        listener={"enabled": True, "host": "127.0.0.1", "port": port})
    app = App(parse_config(path.read_text(), str(path)))
    listener = Listener(app)
    listener.start()
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
            s.ehlo()
            assert not s.has_extn("starttls")
    finally:
        listener.stop()
        app.close()


def test_certificate_keys_name_the_file_that_is_missing(tmp_path, certs):
    def problems(**listener: str) -> str:
        text = config_toml(database=sqlite(tmp_path), outgoing={"ca_file": "/nope/ca.pem"},
                           tables={"listener": listener},
                           departments=[department("support", DOMAIN, imap={
                               "username": "x", "ca_file": "/nope/imap-ca.pem"})])
        with pytest.raises(ConfigError) as e:
            parse_config(text)
        return str(e.value)

    got = problems(tls_cert=str(certs.cert_file))
    assert "departments[support].imap.ca_file: no file '/nope/imap-ca.pem'" in got
    assert "outgoing.ca_file: no file '/nope/ca.pem'" in got
    assert "listener: " in got and "tls_cert and tls_key go together" in got
