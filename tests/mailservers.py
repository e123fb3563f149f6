"""Real mail servers for integration tests: a private Dovecot and an SMTP relay in front of it.

Why real servers: the daemon's IMAP/IDLE/SMTP code must be proven against what production
speaks, not against mocks. Both classes are plain Python (no pytest), so benchmark scripts
can reuse them.

``Dovecot`` runs ``dovecot -F -c <dir>/dovecot.conf`` with everything (config, base_dir,
state, log, maildirs) under one directory. Every address is a mailbox (static userdb with
``allow_all_users``), every password is ``Dovecot.PASSWORD``. It needs root: Dovecot
switches to uid/gid 5000 for mail access (it refuses uid 0), so the mail directory is
chowned to 5000 and the ancestors of the given directory get the search bit (``o+x``,
never read) when uid 5000 could not otherwise reach it (pytest's ``tmp_path`` is 0700).

``SmtpRelay`` is an aiosmtpd server that hands each accepted message to Dovecot over
LMTP, one transaction per recipient, and answers 451 when Dovecot is unreachable.

Example fixtures (for ``tests/conftest.py``)::

    @pytest.fixture
    def dovecot(tmp_path):
        with Dovecot(tmp_path / "dovecot") as server:
            yield server

    @pytest.fixture
    def smtp_relay(dovecot):
        with SmtpRelay(dovecot, auth={"helpdesk": "secret"}) as relay:
            yield relay
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import hmac
import logging
import os
import re
import shutil
import signal
import smtplib
import socket
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple, Self

import imapclient
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from imapclient.exceptions import IMAPClientError

__all__ = ["Dovecot", "Received", "SmtpRelay", "CaCertificates", "free_port", "make_test_ca"]

log = logging.getLogger(__name__)

LOCALHOST = "127.0.0.1"
_INSTALL_HINT = "install it with: apt-get install dovecot-imapd dovecot-lmtpd"
# Longest socket Dovecot 2.3 creates below base_dir is "token-login/imap-urlauth" (24
# chars); AF_UNIX paths are limited to 107 bytes, so longer base_dirs go to /tmp.
_MAX_BASE_DIR_LEN = 80
_APPENDUID = re.compile(rb"\[APPENDUID \d+ (\d+)\]")

# Every dovecot process group we started and have not stopped; killed at interpreter exit
# so an aborted test run does not leave servers holding ports.
_live_groups: set[int] = set()


@atexit.register
def _kill_leftovers() -> None:
    for pgid in list(_live_groups):
        with contextlib.suppress(OSError):
            os.killpg(pgid, signal.SIGKILL)
    _live_groups.clear()


_handed_out: set[int] = set()
_handed_out_lock = threading.Lock()


def free_port(host: str = LOCALHOST) -> int:
    """Return a TCP port that was free a moment ago, never the same one twice in this
    process (instances created before any starts must not share a port). Another
    process can still take it before we bind: start() re-picks on its first start."""
    with _handed_out_lock:
        while True:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind((host, 0))
                port = int(sock.getsockname()[1])
            if port not in _handed_out:
                _handed_out.add(port)
                return port


def _can_listen(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _read_banner(host: str, port: int, prefix: bytes) -> bool:
    """True if the server on port greets with prefix: proves it serves, not just listens."""
    try:
        with socket.create_connection((host, port), timeout=2.0) as sock:
            return sock.recv(256).startswith(prefix)
    except OSError:
        return False


def _live_children(pid: int) -> list[int]:
    """PIDs of pid's children that have not exited yet (zombies excluded), from /proc."""
    try:
        candidates = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:  # kernel without CONFIG_PROC_CHILDREN: scan everything
        candidates = [entry for entry in os.listdir("/proc") if entry.isdigit()]
    live: list[int] = []
    for child in candidates:
        try:
            raw = Path(f"/proc/{child}/stat").read_text()
        except OSError:
            continue  # already gone
        state, ppid = raw[raw.rfind(")") + 2 :].split()[:2]
        if ppid == str(pid) and state not in ("Z", "X"):
            live.append(int(child))
    return live


@functools.cache
def _dovecot_version(binary: str) -> tuple[int, ...]:
    out = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, check=True, timeout=10
    ).stdout
    match = re.match(r"(\d+)\.(\d+)", out.strip())
    if match is None:
        raise RuntimeError(f"cannot parse `{binary} --version` output: {out!r}")
    return tuple(int(part) for part in match.groups())


def _find_dovecot(binary: str | None) -> str:
    """Locate the dovecot binary (root's /usr/sbin may be missing from PATH)."""
    if binary is not None:
        if Path(binary).is_file() and os.access(binary, os.X_OK):
            return binary
        raise RuntimeError(f"dovecot binary {binary!r} not found; {_INSTALL_HINT}")
    found = shutil.which("dovecot") or shutil.which(
        "dovecot", path="/usr/sbin:/usr/local/sbin:/sbin"
    )
    if found is None:
        raise RuntimeError(f"dovecot is not installed; {_INSTALL_HINT}")
    return found


def _check_lmtp_installed() -> None:
    """Without dovecot-lmtpd the LMTP port opens but every delivery fails obscurely."""
    for libexec in (Path("/usr/lib/dovecot"), Path("/usr/libexec/dovecot")):
        if (libexec / "imap").exists() and not (libexec / "lmtp").exists():
            raise RuntimeError(f"dovecot LMTP server missing ({libexec / 'lmtp'}); {_INSTALL_HINT}")


def _make_traversable(path: Path, uid: int, gid: int) -> list[Path]:
    """Give uid/gid the search bit on path and its ancestors where it lacks it.

    Only the x bit for "others" is added (no listing), and only where needed, so a
    0700 pytest tmp_path stays unreadable to other users.
    """
    changed: list[Path] = []
    for directory in [path, *path.parents]:
        st = directory.stat()
        if (
            (st.st_uid == uid and st.st_mode & stat.S_IXUSR)
            or (st.st_gid == gid and st.st_mode & stat.S_IXGRP)
            or st.st_mode & stat.S_IXOTH
        ):
            continue
        os.chmod(directory, stat.S_IMODE(st.st_mode) | stat.S_IXOTH)
        changed.append(directory)
    return changed


class CaCertificates(NamedTuple):
    """A private CA and a server certificate it signed (PEM files)."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> Any:
        import ssl

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def make_test_ca(directory: str | os.PathLike[str],
                 hosts: Iterable[str] = ("localhost", LOCALHOST)) -> CaCertificates:
    """A throw-away CA and a certificate for ``hosts`` signed by it, as no system trusts:
    a client verifies the server only when given ``ca_file``."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("mailticket test CA"))
          .issuer_name(name("mailticket test CA")).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                       False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for h in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            names.append(x509.DNSName(h))
    cert = (x509.CertificateBuilder().subject_name(name(next(iter(hosts))))
            .issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    certs = CaCertificates(out / "ca.pem", out / "server.pem", out / "server.key")
    certs.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    certs.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    certs.key_file.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    certs.key_file.chmod(0o600)
    return certs


def _subject(raw: bytes) -> str:
    match = re.search(rb"(?mi)^Subject:[ \t]*(.*?)\r?$", raw)
    return match.group(1).decode(errors="replace") if match else "(no subject)"


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class Dovecot:
    """A private Dovecot 2.3 (IMAP + LMTP on 127.0.0.1) whose data lives in `directory`.

    Ports are picked once (free ports unless given) and kept across stop/start, so
    outage tests can restart the server under a connected daemon. Usernames are full
    addresses, lower-cased by Dovecot; ``user+tag@dom`` is delivered to ``user@dom``.
    """

    PASSWORD = "pw"
    MAIL_UID = 5000
    MAIL_GID = 5000

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        imap_port: int | None = None,
        lmtp_port: int | None = None,
        binary: str | None = None,
        start_timeout: float = 10.0,
        tls: CaCertificates | None = None,
    ) -> None:
        """``tls``: STARTTLS on the IMAP port and implicit TLS on ``imaps_port``, with
        that certificate."""
        self.directory = Path(directory).absolute()
        self.tls = tls
        self._imaps_port = free_port() if tls else 0
        if re.search(r"[\s\"%\\]", str(self.directory)):
            raise ValueError(
                f"Dovecot directory must not contain spaces, quotes, % or \\: {self.directory}"
            )
        self._auto_ports = imap_port is None and lmtp_port is None
        self._imap_port = imap_port or free_port()
        self._lmtp_port = lmtp_port or free_port()
        self._binary = binary
        self._start_timeout = start_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._started_once = False
        self._short_base_dir: Path | None = None
        self.instance_name = f"mailticket-test-{os.getpid()}-{id(self):x}"
        self.chmodded: list[Path] = []
        """Ancestor directories that got o+x so uid 5000 can reach the maildirs."""

    # -- properties -------------------------------------------------------------------

    @property
    def host(self) -> str:
        return LOCALHOST

    @property
    def imap_port(self) -> int:
        return self._imap_port

    @property
    def lmtp_port(self) -> int:
        return self._lmtp_port

    @property
    def imaps_port(self) -> int:
        """The implicit-TLS IMAP port (0 without ``tls``)."""
        return self._imaps_port

    @property
    def config_path(self) -> Path:
        return self.directory / "dovecot.conf"

    @property
    def log_path(self) -> Path:
        return self.directory / "dovecot.log"

    @property
    def mail_dir(self) -> Path:
        """Root of the per-user homes; a user's maildir is ``mail_dir/<user>/Maildir``."""
        return self.directory / "mail"

    @property
    def base_dir(self) -> Path:
        if self._short_base_dir is not None:
            return self._short_base_dir
        return self.directory / "run"

    @property
    def pid_path(self) -> Path:
        return self.base_dir / "master.pid"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log_text(self) -> str:
        """Dovecot's own log (handy in assertion messages)."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Start Dovecot and return once IMAP and LMTP greet and master.pid exists."""
        if self.running:
            raise RuntimeError("Dovecot is already running")
        binary = _find_dovecot(self._binary)
        version = _dovecot_version(binary)
        if version[:2] != (2, 3):
            raise RuntimeError(
                f"tests/mailservers.py writes Dovecot 2.3 configuration, found "
                f"{'.'.join(map(str, version))} (2.4 changed the syntax)"
            )
        _check_lmtp_installed()
        if os.geteuid() != 0:
            raise RuntimeError(
                "the Dovecot test server needs root: it switches to uid "
                f"{self.MAIL_UID} for mail access"
            )
        self._prepare_dirs()
        attempts = 3 if self._auto_ports and not self._started_once else 1
        for attempt in range(attempts):
            try:
                self._spawn(binary)
                break
            except _PortInUse:
                if attempt == attempts - 1:
                    raise
                # Someone grabbed a port between free_port() and dovecot's bind: re-pick.
                self._imap_port, self._lmtp_port = free_port(), free_port()
        self._started_once = True

    def stop(self) -> None:
        """Shut down gracefully and return once both ports are closed.

        SIGTERM goes to the whole process group, not only the master, so every process
        exits at once: IMAP clients get "BYE Server shutting down", LMTP clients 421.
        Once no child is alive, the master is only in Dovecot 2.3's unconditional 1 s
        shutdown sleep, so we SIGKILL it then: a stop takes ~10 ms instead of 1-6 s.
        """
        proc = self._proc
        if proc is None:
            return
        deadline = time.monotonic() + 5.0
        next_signal = 0.0
        while proc.poll() is None and time.monotonic() < deadline:
            if time.monotonic() >= next_signal:
                # Repeated: a process being forked when the previous signal came, or
                # one busy finishing a session, would otherwise hold the master 5 s.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)  # group id == master.pid (-F)
                next_signal = time.monotonic() + 0.1
            time.sleep(0.005)
            if not _live_children(proc.pid):
                break
        self._reap(proc)

    def kill(self) -> None:
        """Crash-stop (SIGKILL to every Dovecot process): clients see a dropped connection."""
        if self._proc is not None:
            self._reap(self._proc)

    def restart(self) -> None:
        """Stop and start again on the same ports with the same mailboxes."""
        self.stop()
        self.start()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- mailbox helpers ----------------------------------------------------------------

    def client(self, user: str, *, timeout: float = 10.0) -> imapclient.IMAPClient:
        """A logged-in IMAP connection for user (use it as a context manager to log out)."""
        client = imapclient.IMAPClient(self.host, port=self.imap_port, ssl=False, timeout=timeout)
        try:
            client.login(user, self.PASSWORD)
        except BaseException:
            with contextlib.suppress(Exception):
                client.shutdown()
            raise
        return client

    def append(self, user: str, raw: bytes, folder: str = "INBOX") -> int | None:
        """IMAP APPEND raw into folder (created if missing); return the new UID."""
        with self.client(user) as client:
            if folder.upper() != "INBOX" and not client.folder_exists(folder):
                client.create_folder(folder)
            response = client.append(folder, raw)
        match = _APPENDUID.search(response if isinstance(response, bytes) else b"")
        return int(match.group(1)) if match else None

    def messages(self, user: str, folder: str = "INBOX") -> list[bytes]:
        """All messages' raw bytes in UID order, as IMAP serves them (CRLF line ends).

        Opened read-only (EXAMINE) and fetched with BODY.PEEK[] so \\Seen never changes.
        Mail that came over LMTP carries Dovecot's Return-Path/Delivered-To/Received
        headers in front of the original bytes.
        """
        with self.client(user) as client:
            return self._fetch_all(client, folder)

    def wait_for_messages(
        self, user: str, count: int, timeout: float = 10.0, folder: str = "INBOX"
    ) -> list[bytes]:
        """Poll until folder holds at least count messages; return them all (UID order).

        Raises AssertionError naming what was found instead, so a failing test says why.
        """
        deadline = time.monotonic() + timeout
        client: imapclient.IMAPClient | None = None
        found = 0
        last_error: Exception | None = None
        try:
            while True:
                try:
                    if client is None:
                        client = self.client(user)
                    if client.folder_exists(folder):
                        found = client.select_folder(folder, readonly=True)[b"EXISTS"]
                        if found >= count:
                            return self._fetch_all(client, folder)
                except (OSError, IMAPClientError) as exc:
                    last_error = exc  # server restarting under us: reconnect next round
                    if client is not None:
                        with contextlib.suppress(Exception):
                            client.shutdown()
                    client = None
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.05)
            raws: list[bytes] = []
            if client is not None and found:
                with contextlib.suppress(Exception):  # the report must not hide the failure
                    raws = self._fetch_all(client, folder)
            subjects = [_subject(raw) for raw in raws]
        finally:
            if client is not None:
                with contextlib.suppress(Exception):
                    client.logout()
        raise AssertionError(
            f"expected at least {count} message(s) in {user}/{folder} within {timeout}s, "
            f"found {found}; subjects: {subjects}"
            + (f"; last IMAP error: {last_error!r}" if last_error else "")
            + f"\n--- dovecot log tail ---\n{_tail(self.log_path)}"
        )

    def deliver_lmtp(self, rcpt: str, raw: bytes, mail_from: str = "") -> None:
        """Deliver raw to one recipient over LMTP (empty mail_from = null sender <>).

        One recipient per call because smtplib.LMTP reads a single reply after DATA,
        while LMTP sends one per recipient. Raises smtplib.SMTPException/OSError.
        """
        with smtplib.LMTP(self.host, self.lmtp_port, timeout=10) as lmtp:
            lmtp.sendmail(mail_from, [rcpt], raw)

    def seed_inbox(self, user: str, raws: Iterable[bytes]) -> int:
        """Drop messages straight into user's Maildir/new (much faster than APPEND for
        large backlogs); Dovecot picks them up on its next sync. Returns the count."""
        maildir = self.mail_dir / user.lower() / "Maildir"
        for sub in ("", "cur", "new", "tmp"):
            (maildir / sub).mkdir(parents=True, exist_ok=True)
        for path in (maildir.parent, maildir, *(maildir / s for s in ("cur", "new", "tmp"))):
            os.chown(path, self.MAIL_UID, self.MAIL_GID)
        stamp = f"{int(time.time())}.M{time.time_ns() % 10**9}P{os.getpid()}"
        count = 0
        for count, raw in enumerate(raws, start=1):
            name = f"{stamp}Q{count}.mailticket-seed"
            tmp = maildir / "tmp" / name
            tmp.write_bytes(raw)
            os.chown(tmp, self.MAIL_UID, self.MAIL_GID)
            os.rename(tmp, maildir / "new" / name)
        return count

    # -- internals ----------------------------------------------------------------------

    @staticmethod
    def _fetch_all(client: imapclient.IMAPClient, folder: str) -> list[bytes]:
        if client.select_folder(folder, readonly=True)[b"EXISTS"] == 0:
            return []
        uids = sorted(client.search(["ALL"]))
        out: list[bytes] = []
        for start in range(0, len(uids), 500):
            chunk = uids[start : start + 500]
            data = client.fetch(chunk, ["BODY.PEEK[]"])
            out.extend(data[uid][b"BODY[]"] for uid in chunk if uid in data)
        return out

    def _prepare_dirs(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "state").mkdir(exist_ok=True)
        self.mail_dir.mkdir(exist_ok=True)
        os.chown(self.mail_dir, self.MAIL_UID, self.MAIL_GID)
        os.chmod(self.mail_dir, 0o700)
        self.chmodded += _make_traversable(self.directory, self.MAIL_UID, self.MAIL_GID)
        if len(str(self.directory / "run")) > _MAX_BASE_DIR_LEN and self._short_base_dir is None:
            self._short_base_dir = Path(tempfile.mkdtemp(prefix="mt-dovecot-"))
            os.chmod(self._short_base_dir, 0o755)

    def _ssl(self) -> str:
        if self.tls is None:
            return "ssl = no"
        return (f"ssl = yes\nssl_cert = <{self.tls.cert_file}\n"
                f"ssl_key = <{self.tls.key_file}")

    def _config(self) -> str:
        d = self.directory
        return f"""\
# Generated by tests/mailservers.py for one test instance; do not edit.
base_dir = {self.base_dir}
state_dir = {d}/state
instance_name = {self.instance_name}
log_path = {self.log_path}
listen = {LOCALHOST}
protocols = imap lmtp
{self._ssl()}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_verbose = yes
# A wrong password would otherwise cost 2 s per attempt.
auth_failure_delay = 0
mail_home = {self.mail_dir}/%u
mail_location = maildir:~/Maildir
mail_fsync = never
# Fallback poll for IDLE if inotify is unavailable.
mailbox_idle_check_interval = 1 secs
# Login processes otherwise connect to the stats service, which the master stops
# accepting for at shutdown: a 5 s hang when stopping right after a connection.
stats_writer_socket_path =
namespace inbox {{
  inbox = yes
  separator = /
}}
passdb {{
  driver = static
  args = password={self.PASSWORD}
}}
userdb {{
  driver = static
  args = uid={self.MAIL_UID} gid={self.MAIL_GID} allow_all_users=yes
}}
protocol imap {{
  # Default 10 per user and IP is easily hit by a daemon plus test helpers.
  mail_max_userip_connections = 1000
}}
service imap-login {{
  inet_listener imap {{
    address = {LOCALHOST}
    port = {self._imap_port}
  }}
  inet_listener imaps {{
    address = {LOCALHOST}
    port = {self._imaps_port}
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = {LOCALHOST}
    port = {self._lmtp_port}
  }}
}}
"""

    def _spawn(self, binary: str) -> None:
        self.config_path.write_text(self._config())
        # Leftovers of a master that died by SIGKILL (kill(), or stop() cutting its final
        # sleep short). A stale dotlock makes the next master wait for it, well past
        # any start timeout; nothing of ours runs now, so both are safe to drop.
        for stale in (self.pid_path, self.directory / "state" / "instances.lock"):
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()
        log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        started = time.monotonic()
        # -F: we stay the parent, so we notice early exits and reap it; output goes to a
        # file because a daemon holding our pipes open would hang the caller.
        with open(self.directory / "dovecot.out", "ab") as out:
            proc = subprocess.Popen(
                [binary, "-F", "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: stop/kill reach every child
            )
        self._proc = proc
        _live_groups.add(proc.pid)
        deadline = started + self._start_timeout
        while True:
            if proc.poll() is not None:
                self._reap(proc)
                new_log = self._log_since(log_offset)
                out_tail = _tail(self.directory / "dovecot.out", 5)
                if "Address already in use" in new_log:
                    raise _PortInUse(new_log)
                raise RuntimeError(
                    f"dovecot exited with {proc.returncode} during start:\n{new_log}\n{out_tail}"
                )
            if (
                self.pid_path.exists()
                and _read_banner(self.host, self._imap_port, b"* OK")
                and _read_banner(self.host, self._lmtp_port, b"220")
            ):
                break
            if time.monotonic() > deadline:
                self._reap(proc)
                raise RuntimeError(
                    f"dovecot did not get ready in {self._start_timeout}s:\n"
                    f"{self._log_since(log_offset)}"
                )
            time.sleep(0.005)
        log.debug("dovecot %s ready in %.3fs", self.instance_name, time.monotonic() - started)

    def _log_since(self, offset: int) -> str:
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(offset)
                return fh.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def _reap(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL what is left of the group, reap the master, wait for the ports to close."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        _live_groups.discard(proc.pid)
        self._proc = None
        deadline = time.monotonic() + 10.0
        while _port_open(self.host, self._imap_port) or _port_open(self.host, self._lmtp_port):
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"ports {self._imap_port}/{self._lmtp_port} still open "
                    "10 s after stopping dovecot"
                )
            time.sleep(0.005)
        with contextlib.suppress(FileNotFoundError):
            self.pid_path.unlink()
        if self._short_base_dir is not None:
            shutil.rmtree(self._short_base_dir, ignore_errors=True)
            self._short_base_dir = None


class _PortInUse(RuntimeError):
    pass


class Received(NamedTuple):
    """One message the relay accepted (answered 250 to)."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes


class _QuietSession(Session):
    """aiosmtpd 1.4 itself sets the deprecated ``login_data`` on every successful AUTH,
    which would put a DeprecationWarning into each test run using the relay's auth."""

    @property  # type: ignore[override]
    def login_data(self) -> Any:
        return self._login_data

    @login_data.setter
    def login_data(self, value: Any) -> None:
        self._login_data = value


class _OpenSessions:
    """Sessions of one controller, so stop() can close their sockets: aiosmtpd only
    cancels tasks and leaves sockets to the garbage collector (ResourceWarnings)."""

    def __init__(self) -> None:
        self.sessions: set[SMTP] = set()
        self.closing = False

    def close_all(self) -> None:
        self.closing = True
        for session in list(self.sessions):
            if session.transport is not None:
                session.transport.close()


class _RelaySMTP(SMTP):
    def __init__(self, registry: _OpenSessions, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._registry = registry

    def _create_session(self) -> Session:
        return _QuietSession(self.loop)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._registry.sessions.add(self)
        if self._registry.closing:  # accepted just as the relay stops
            transport.close()

    def connection_lost(self, error: Exception | None) -> None:
        self._registry.sessions.discard(self)
        super().connection_lost(error)


class _RelayController(Controller):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._registry = _OpenSessions()
        super().__init__(*args, **kwargs)

    def factory(self) -> SMTP:
        return _RelaySMTP(self._registry, self.handler, **self.SMTP_kwargs)

    async def _wind_down(self) -> None:
        # Stop accepting without closing the server yet: a connection accepted a moment
        # ago is still a pending task holding a bare socket, which aiosmtpd's stop would
        # cancel (leaking the socket) and which fails if the server is already closed.
        if self.server is not None:
            for sock in self.server.sockets:
                self.loop.remove_reader(sock.fileno())
        await asyncio.sleep(0.02)
        self._registry.close_all()
        await asyncio.sleep(0.01)  # connection_lost callbacks

    def stop(self, no_assert: bool = False) -> None:
        if self._thread is not None and self.loop.is_running():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._wind_down(), self.loop).result(5)
        super().stop(no_assert)


class _RelayHandler:
    """aiosmtpd handler: enforce AUTH if configured, then deliver over LMTP."""

    def __init__(self, relay: SmtpRelay) -> None:
        self._relay = relay

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        # Checked here rather than with auth_required=True, which warns on every
        # connection when TLS is not required.
        if self._relay.auth is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        mail_from = envelope.mail_from or ""
        rcpts = list(dict.fromkeys(envelope.rcpt_tos))  # a repeated RCPT gets one copy
        for rcpt in rcpts:
            try:
                await asyncio.to_thread(self._relay.dovecot.deliver_lmtp, rcpt, raw, mail_from)
            except (OSError, smtplib.SMTPException) as exc:
                reason = " ".join(str(exc).split())[:200]
                log.info("LMTP delivery to %s failed: %s", rcpt, reason)
                return f"451 4.3.0 LMTP delivery to <{rcpt}> failed: {reason}"
        self._relay._record(Received(mail_from, rcpts, raw))
        return "250 2.0.0 OK delivered"


class SmtpRelay:
    """An SMTP server (aiosmtpd, own thread) that delivers into a Dovecot over LMTP.

    Each envelope recipient gets its own LMTP transaction. If any delivery fails the
    client gets 451 (temporary), as a real MTA would when its mailbox store is down;
    recipients delivered before the failure then get a second copy on retry.
    With ``auth={user: password}`` MAIL FROM requires AUTH PLAIN/LOGIN (allowed without
    TLS, for tests); without it no AUTH is offered.
    """

    def __init__(
        self,
        dovecot: Dovecot,
        *,
        auth: Mapping[str, str] | None = None,
        port: int | None = None,
        tls: CaCertificates | None = None,
    ) -> None:
        """``tls``: STARTTLS offered with that certificate."""
        self.tls = tls
        self.dovecot = dovecot
        self.auth = dict(auth) if auth is not None else None
        self._auto_port = port is None
        self._port = port or free_port()
        self._started_once = False
        self._controller: Controller | None = None
        self._lock = threading.Lock()
        self._received: list[Received] = []

    @property
    def host(self) -> str:
        return LOCALHOST

    @property
    def port(self) -> int:
        return self._port

    @property
    def received(self) -> list[Received]:
        """Snapshot (a copy, taken under a lock) of accepted messages, oldest first."""
        with self._lock:
            return list(self._received)

    def wait_for_received(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Poll until at least count messages were accepted (for async senders)."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.received
            if len(got) >= count:
                return got
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"SMTP relay accepted {len(got)} message(s) within "
                    f"{timeout}s, expected at least {count}"
                )
            time.sleep(0.02)

    def _record(self, item: Received) -> None:
        with self._lock:
            self._received.append(item)

    def _authenticate(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        mechanism: str,
        auth_data: Any,
    ) -> AuthResult:
        if self.auth is None or not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user = auth_data.login.decode("utf-8", "replace")
        expected = self.auth.get(user)
        ok = expected is not None and hmac.compare_digest(
            expected.encode("utf-8"), auth_data.password
        )
        return AuthResult(success=ok, handled=False)

    def start(self) -> None:
        """Listen on 127.0.0.1:port.

        A fresh controller each time: aiosmtpd closes its loop on stop, so a controller
        cannot be restarted. The port is checked first because aiosmtpd reports a bind
        failure only after its whole ready_timeout.
        """
        if self._controller is not None:
            raise RuntimeError("SmtpRelay is already running")
        if not _can_listen(self.host, self._port):
            if not self._auto_port or self._started_once:
                raise RuntimeError(f"SMTP relay port {self.host}:{self._port} is in use")
            self._port = free_port()  # taken by another process since we picked it
        kwargs: dict[str, Any] = {}
        if self.auth is not None:
            kwargs.update(authenticator=self._authenticate, auth_require_tls=False)
        if self.tls is not None:
            kwargs.update(tls_context=self.tls.server_context())
        controller = _RelayController(
            _RelayHandler(self),
            hostname=LOCALHOST,
            port=self._port,
            # Explicit name: the default socket.getfqdn() can stall on a DNS lookup.
            server_hostname="mailticket-test-relay",
            ready_timeout=10.0,
            **kwargs,
        )
        controller.start()
        self._controller = controller
        self._started_once = True

    def stop(self) -> None:
        """Stop listening and drop open sessions; returns when the port is closed."""
        if self._controller is None:
            return
        self._controller.stop()
        self._controller = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
