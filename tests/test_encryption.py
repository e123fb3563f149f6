"""Encryption at rest: what a customer wrote and attached never reaches the database
files in the clear, while `show`, `search`, `attachment`, `customer forget` and the FAQ
clusters still work; key rotation (also killed and resumed), a plain database encrypted,
and a wrong or missing key refused at start."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from mailticket.cli import main
from mailticket.store import sealing
from mailticket.store.sealing import Keyring, MasterKey, SealingError
from tests.builders import ONE_DAY, PARIS_OFFICE, config_toml, department, maildir
from tests.test_customer_export import (
    ANN,
    ANN_FILE,
    ANN_PHRASE,
    BJORN,
    BJORN_PHRASE,
    DOMAIN,
    MONDAY,
    build_desk,
)
from tests.test_customer_forget import sqlite_bytes

VAR = "MT_TEST_DATA_KEY"
STORAGE = f'[storage]\nencryption_key_env = "{VAR}"\n'
K1, K2 = sealing.new_key(), sealing.new_key()
# Words of Ann's mail that are not in her subject (subjects stay readable), as written
# and as the analyzer stems them.
SECRET_WORDS = (b"smouldering", b"smoulder", b"walrus printer is", "smörgåsbord".encode())


def label(key: str) -> str:
    return MasterKey(base64.urlsafe_b64decode(key)).label


def config_file(tmp_path: Path, url: str, encrypted: bool = True) -> Path:
    path = tmp_path / "cli.toml"
    path.write_text(config_toml(
        database={"url": url}, outgoing=maildir(tmp_path), calendar=PARIS_OFFICE,
        sla=ONE_DAY, extra=STORAGE if encrypted else "",
        departments=[department("support", DOMAIN, display_name="Example Support",
                                agents=["alice"], escalate_to=["lead"])]))
    return path


def cli(path: Path, *args: str, key: str | None) -> tuple[int, str, str]:
    """A real `mailticket` process with ``key`` in the variable (None: unset)."""
    env = {k: v for k, v in os.environ.items() if k != VAR}
    if key is not None:
        env[VAR] = key
    done = subprocess.run([sys.executable, "-m", "mailticket", "--config", str(path), *args],
                          capture_output=True, text=True, env=env, timeout=120)
    return done.returncode, done.stdout, done.stderr


def in_process(path: Path, *args: str, env: dict[str, str | None] | None = None
               ) -> tuple[int, str]:
    r = CliRunner().invoke(main, ["--config", str(path), *args], env=env)
    return r.exit_code, r.output


@pytest.fixture
def encrypted_desk(tmp_path, monkeypatch):
    monkeypatch.setenv(VAR, K1)
    desk = build_desk(tmp_path, extra=STORAGE)
    yield desk
    desk.app.close()
    sealing.use(None)


def test_her_words_and_file_never_reach_the_sqlite_files_yet_show_and_search_find_them(
        encrypted_desk, tmp_path):
    files = sqlite_bytes(tmp_path / "x.db")
    assert b"Walrus printer trouble" in files  # subjects stay readable, for listing
    for secret in (*SECRET_WORDS, ANN_PHRASE.encode(), ANN_FILE[9:60],
                   base64.b64encode(ANN_FILE)[:60], BJORN_PHRASE.encode(), b"heron sings"):
        assert secret not in files, secret
    path = config_file(tmp_path, encrypted_desk.app.config.database.url)
    code, out = in_process(path, "show", "1")
    assert code == 0 and "smouldering again" in out, out
    code, out = in_process(path, "search", "smouldering", "--json")
    hits = json.loads(out)["hits"]
    assert [h["ticket"] for h in hits] == [1] and "smouldering" in hits[0]["snippet"]
    code, out = in_process(path, "search", "heron", "--json")
    assert sorted(h["ticket"] for h in json.loads(out)["hits"]) == [2]
    encrypted_desk.receive(_mail(f"dora@{DOMAIN}", "Locked out",
                                 "I forgot both passwords and the reset link expired."))
    code, out = in_process(path, "search", "password", "--json")  # an inflected form
    assert [h["ticket"] for h in json.loads(out)["hits"]] == [3], out
    saved = tmp_path / "scan.pdf"
    code, out = in_process(path, "attachment", "1", "ann-scan.pdf", "--out", str(saved))
    assert code == 0 and saved.read_bytes() == ANN_FILE, out
    code, out = in_process(path, "customer", "show", ANN, "--json")
    assert code == 0 and json.loads(out)["tickets"][0]["id"] == 1


def test_forget_with_encryption_on_leaves_the_other_customer_readable(encrypted_desk,
                                                                      tmp_path):
    path = config_file(tmp_path, encrypted_desk.app.config.database.url)
    code, out = in_process(path, "customer", "forget", ANN, "--yes", "--json")
    assert code == 0, out
    code, out = in_process(path, "search", "smouldering", "--json")
    assert json.loads(out)["hits"] == []
    code, out = in_process(path, "show", "2")
    assert BJORN_PHRASE in out and ANN not in out
    assert ANN.encode() not in sqlite_bytes(tmp_path / "x.db")


def test_faq_clusters_still_group_questions_with_encryption_on(encrypted_desk, tmp_path):
    from mailticket.search.clusters import candidates

    for who in ("dora", "emil", "fred"):
        encrypted_desk.receive(_mail(f"{who}@{DOMAIN}", "Invoice copy",
                                     "Please send me a copy of my invoice for November."))
    with encrypted_desk.app.db.read() as s:
        found = candidates(s, encrypted_desk.app.config, "support", MONDAY.replace(day=1), 3)
        terms = s.execute(text("SELECT terms FROM questions")).scalars().all()
    assert [c["size"] for c in found] == [3]
    assert all("invoic" not in t for t in terms), terms  # keyed hashes, not words
    # A published entry that answers them takes the cluster off the list, as without
    # encryption: its terms are hashed the same way.
    from mailticket.faq import entries
    from mailticket.faq.exchange import NewEntry
    from mailticket.faq.suggest import answered_by_entries

    with encrypted_desk.app.db.transaction() as s:
        entries.add(s, NewEntry("support", "en", "How do I get a copy of my invoice?",
                                "Open your account page and choose Invoices."), MONDAY)
    with encrypted_desk.app.db.read() as s:
        assert candidates(s, encrypted_desk.app.config, "support", MONDAY.replace(day=1), 3,
                          answered=answered_by_entries(s)) == []


def _mail(sender: str, subject: str, body: str):
    from tests.conftest import mail

    return mail(sender, f"support@{DOMAIN}", subject, body)


def test_postgresql_holds_no_plain_content_checked_through_sql(tmp_path, pg_url, monkeypatch):
    monkeypatch.setenv(VAR, K1)
    desk = build_desk(tmp_path, pg_url, extra=STORAGE)
    try:
        engine = create_engine(pg_url)
        with engine.connect() as c:
            for table, col in (("messages", "raw"), ("quarantine", "raw")):
                assert not c.scalar(text(
                    f"SELECT count(*) FROM {table} WHERE position(:p in {col}) > 0"),
                    {"p": ANN_PHRASE.encode()})
            assert not c.scalar(text("SELECT count(*) FROM messages WHERE text LIKE :p"),
                                {"p": "%smouldering%"})
            assert c.scalar(text("SELECT count(*) FROM messages WHERE text LIKE :p"),
                            {"p": "\x01mts1:%"}) >= 3
            index = " ".join(c.scalars(text("SELECT doc::text FROM search_docs")))
            assert "smoulder" not in index and "walrus" not in index and index
        engine.dispose()
        path = config_file(tmp_path, pg_url)
        code, out = in_process(path, "search", "smouldering", "--json")
        assert [h["ticket"] for h in json.loads(out)["hits"]] == [1], out
        monkeypatch.setenv(VAR, f"{K2},{K1}")  # rotation on PostgreSQL (FOR UPDATE batches)
        code, out = in_process(path, "db", "rotate-key", "--batch", "3", "--json")
        assert code == 0 and json.loads(out)["rewrapped"] >= 5, out
        monkeypatch.setenv(VAR, K2)
        code, out = in_process(path, "show", "1")
        assert code == 0 and ANN_PHRASE in out, out
    finally:
        desk.app.close()
        sealing.use(None)


def test_rotation_moves_every_value_to_the_new_key_and_the_old_one_can_go(encrypted_desk,
                                                                          tmp_path):
    url = encrypted_desk.app.config.database.url
    encrypted_desk.app.close()
    path = config_file(tmp_path, url)
    code, out, err = cli(path, "db", "rotate-key", "--json", key=f"{K2},{K1}")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["key"] == label(K2) and summary["rewrapped"] >= 5
    assert summary["sealed"] == 0 and summary["retired_keys"] == [label(K1)]
    assert _key_ids(tmp_path / "x.db") == {label(K2)}
    code, out, err = cli(path, "show", "1", key=K2)  # the old key removed
    assert code == 0 and ANN_PHRASE in out, err
    code, out, err = cli(path, "show", "1", key=K1)
    assert code == 2 and VAR in err and label(K2) in err, err


def _key_ids(db: Path) -> set[str]:
    """The keys the sealed values of the database are wrapped under."""
    import sqlite3

    conn = sqlite3.connect(db)
    found = set()
    for (raw,) in conn.execute("SELECT raw FROM messages WHERE raw != x''"):
        found.add(sealing.key_label(raw[len(sealing.MAGIC):]))
    for (txt,) in conn.execute("SELECT text FROM messages WHERE text != ''"):
        blob = sealing.blob_of(txt)
        assert blob is not None
        found.add(sealing.key_label(blob))
    conn.close()
    return found


def test_a_killed_rotation_resumes_where_it_stopped(encrypted_desk, tmp_path):
    for n in range(150):
        encrypted_desk.receive(_mail(f"c{n}@{DOMAIN}", f"Question {n}",
                                     f"Order {n} has not arrived, {ANN_PHRASE}"))
    url = encrypted_desk.app.config.database.url
    encrypted_desk.app.close()
    path = config_file(tmp_path, url)
    env = {**os.environ, VAR: f"{K2},{K1}"}
    proc = subprocess.Popen([sys.executable, "-m", "mailticket", "--config", str(path), "db",
                             "rotate-key", "--batch", "2"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import sqlite3

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with sqlite3.connect(tmp_path / "x.db", timeout=30) as c:
            row = c.execute("SELECT value FROM settings WHERE key = 'data_rotation'").fetchone()
        if row and json.loads(row[0])["rewrapped"] >= 40:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert row is not None, "the rotation finished before it could be killed"
    assert _key_ids(tmp_path / "x.db") == {label(K1), label(K2)}  # half-way
    code, out, err = cli(path, "show", "5", key=f"{K2},{K1}")  # usable meanwhile
    assert code == 0, err
    code, out, err = cli(path, "db", "rotate-key", "--json", key=f"{K2},{K1}")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["resumed"] is True
    assert _key_ids(tmp_path / "x.db") == {label(K2)}
    code, out, err = cli(path, "search", "smouldering", "--json", key=K2)
    assert code == 0 and len(json.loads(out)["hits"]) >= 20, err


def test_a_wrong_or_missing_key_is_refused_at_start(encrypted_desk, tmp_path):
    url = encrypted_desk.app.config.database.url
    encrypted_desk.app.close()
    path = config_file(tmp_path, url)
    code, _, err = cli(path, "run", key=K2)
    assert code == 2 and VAR in err and label(K1) in err, err
    code, _, err = cli(path, "run", key=None)
    assert code == 2 and f"{VAR} is not set" in err and "db new-key" in err, err
    # The same checks in every command (in process, for speed).
    code, out = in_process(path, "show", "1", env={VAR: "not-a-key"})
    assert code == 2 and "key 1 of 1 is not 32 bytes" in out, out
    code, out = in_process(path, "check-config", "--offline", "--json", env={VAR: "x"})
    got = json.loads(out)["checks"]
    assert code == 1 and got[0]["name"] == "encryption" and got[0]["kind"] == "key", got
    code, out = in_process(path, "check-config", "--offline", "--json",
                           env={VAR: f"{K1},{K2}"})
    assert code == 0 and label(K1) in json.loads(out)["checks"][0]["detail"], out
    plain = config_file(tmp_path, url, encrypted=False)
    code, out = in_process(plain, "tickets", env={VAR: None})
    assert code == 2 and "encryption_key_env" in out, out


def test_a_plain_database_is_encrypted_by_rotate_key(tmp_path, monkeypatch):
    desk = build_desk(tmp_path)  # no encryption
    url = desk.app.config.database.url
    desk.app.close()
    db = tmp_path / "x.db"
    assert ANN_PHRASE.encode() in sqlite_bytes(db)
    path = config_file(tmp_path, url)
    code, _, err = cli(path, "show", "1", key=K1)
    assert code == 2 and "rotate-key" in err, err  # it says what to run
    with _a_running_daemon(url):
        code, _, err = cli(path, "db", "rotate-key", key=K1)
        assert code == 2 and "stop the daemon" in err and str(os.getpid()) in err, err
    code, out, err = cli(path, "db", "rotate-key", "--json", key=K1)
    assert code == 0, err
    summary = json.loads(out)
    assert summary["sealed"] >= 5 and summary["index_rebuilt"] == 4
    files = sqlite_bytes(db)
    for secret in (*SECRET_WORDS, ANN_PHRASE.encode(), ANN_FILE[9:60],
                   base64.b64encode(ANN_FILE)[:60], BJORN_PHRASE.encode()):
        assert secret not in files, secret
    code, out, err = cli(path, "search", "smouldering", "--json", key=K1)
    assert [h["ticket"] for h in json.loads(out)["hits"]] == [1], err
    code, out, err = cli(path, "show", "2", key=K1)
    assert BJORN_PHRASE in out and BJORN in out


@contextlib.contextmanager
def _a_running_daemon(url: str):
    """This test process registered as a running daemon, as `mailticket run` registers."""
    from mailticket.daemons import Registry
    from mailticket.store.db import Database

    db = Database(url)
    registry = Registry(db, "run")
    registry.start()
    try:
        yield
    finally:
        registry.stop()
        db.dispose()


# -- the sealing itself (pure) -----------------------------------------------------

def test_a_sealed_value_opens_with_its_key_only_and_plain_values_pass():
    a, b = (Keyring((MasterKey(os.urandom(32)),)) for _ in range(2))
    try:
        sealing.use(a)
        sealed = sealing.seal_bytes(b"hello " * 100)
        assert sealed.startswith(sealing.MAGIC) and b"hello" not in sealed
        assert sealing.open_bytes(sealed) == b"hello " * 100
        for as_bytes in (False, True):  # base64 text (PostgreSQL), bytes (SQLite)
            sealed_text = sealing.seal_text("grüß dich \udcff", as_bytes)
            assert sealing.open_text(sealed_text) == "grüß dich \udcff"
        assert sealing.open_bytes(b"From: plain\r\n") == b"From: plain\r\n"
        assert sealing.seal_text("") == "" and sealing.seal_bytes(b"") == b""
        tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
        with pytest.raises(SealingError, match="does not open"):
            sealing.open_bytes(tampered)
        sealing.use(b)
        with pytest.raises(SealingError, match="not among the configured keys"):
            sealing.open_bytes(sealed)
        # Rotation re-wraps the data key and keeps the ciphertext.
        both = Keyring((b.first, a.first))
        moved = sealing.rewrap(sealed[len(sealing.MAGIC):], both)
        assert moved[-100:] == sealed[-100:] and moved[:4] == b.first.id
        assert sealing.unseal(moved, b) == b"hello " * 100
    finally:
        sealing.use(None)


def test_keys_are_read_from_the_variable_with_clear_errors():
    ring = sealing.parse_keys(f" {K1}, {K2} ", VAR)
    assert ring.labels == [label(K1), label(K2)]
    with pytest.raises(SealingError, match=f"{VAR}: key 2 of 2 is not 32 bytes"):
        sealing.parse_keys(f"{K1},{K1[:-4]}", VAR)
    with pytest.raises(SealingError, match=f"{VAR} is not set"):
        sealing.parse_keys("", VAR)
