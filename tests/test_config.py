"""A bad config gets one clear message naming the key and the fix, and exit code 2."""

import subprocess
import sys
from pathlib import Path

import pytest

from mailticket.config import ConfigError, load_config, parse_config
from tests.builders import config_toml, department

ROOT = Path(__file__).resolve().parents[1]
SUPPORT = department("support", "example.com")


def minimal(**parts) -> str:
    """The support department alone, with ``parts`` (``config_toml``'s) added."""
    return config_toml(secret=None, departments=[SUPPORT], **parts)


def test_example_config_is_valid_and_documents_every_key():
    cfg = load_config(ROOT / "config.example.toml")
    assert [d.name for d in cfg.departments] == ["support", "sales"]
    text = (ROOT / "config.example.toml").read_text()
    for section, model in [("outgoing", cfg.outgoing), ("listener", cfg.listener),
                           ("database", cfg.database), ("sla", cfg.sla),
                           ("calendar", cfg.calendar), ("limits", cfg.limits),
                           ("feedback", cfg.feedback), ("metrics", cfg.metrics)]:
        for key in type(model).model_fields:
            assert f"{key} =" in text, f"[{section}] {key} is not documented"
    for key in type(cfg.departments[0]).model_fields:
        assert f"{key} =" in text, f"departments.{key} is not documented"


def test_parse_workers_default_to_one_where_there_is_a_second_core():
    cfg = parse_config(minimal(), "x.toml")
    assert (cfg.ingest.workers(cpus=1), cfg.ingest.workers(cpus=2)) == (0, 1)
    pinned = parse_config(minimal(tables={"ingest": {"parse_workers": 0}}), "x.toml")
    assert pinned.ingest.workers(cpus=8) == 0


@pytest.mark.parametrize(("table", "keys", "expected"), [
    ("outgoing", {"prot": 25}, "outgoing.prot: Extra inputs are not permitted — remove it"),
    ("outgoing", {"port": 99999}, "outgoing.port: Input should be less than or equal to 65535"),
    ("outgoing", {"security": "ssl"}, "outgoing.security: Input should be 'starttls', 'tls'"),
    ("sla", {"response": "3 weeks"}, "sla.response: '3 weeks' is not a duration"),
    ("calendar", {"timezone": "Mars/Olympus"}, "calendar"),
    ("calendar", {"hours": {"mon": "9-17"}}, "calendar"),
])
def test_errors_name_the_key(table, keys, expected):
    with pytest.raises(ConfigError) as e:
        parse_config(minimal(tables={table: keys}), "test.toml")
    assert expected in str(e.value)


def test_missing_departments_and_bad_address():
    with pytest.raises(ConfigError, match="departments: Field required — add this key"):
        parse_config("", "x.toml")
    with pytest.raises(ConfigError,
                       match=r"departments\[support\]\.address: 'nobody' is not a mail address"):
        parse_config(config_toml(departments=[{**SUPPORT, "address": "nobody"}]), "x.toml")


def test_duplicate_department_address():
    with pytest.raises(ConfigError, match="used twice"):
        parse_config(config_toml(departments=[SUPPORT, {**SUPPORT, "name": "other"}]),
                     "x.toml")


def test_secret_comes_from_the_environment(monkeypatch):
    cfg = parse_config(config_toml(secret="literal", top={"secret_env": "MY_SECRET"},
                                   departments=[SUPPORT]))
    monkeypatch.delenv("MY_SECRET", raising=False)
    assert cfg.resolved_secret() == "literal"
    monkeypatch.setenv("MY_SECRET", "from-env")
    assert cfg.resolved_secret() == "from-env"


def test_cli_exits_2_with_the_key_in_the_message(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(minimal(tables={"listener": {"port": 0}}))
    r = subprocess.run([sys.executable, "-m", "mailticket", "--config", str(bad), "status"],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2
    assert "listener.port" in r.stderr and "greater than or equal to 1" in r.stderr
    assert "Traceback" not in r.stderr
    missing = subprocess.run([sys.executable, "-m", "mailticket", "--config",
                              str(tmp_path / "nope.toml"), "status"],
                             capture_output=True, text=True, cwd=tmp_path)
    assert missing.returncode == 2 and "cannot read configuration" in missing.stderr
