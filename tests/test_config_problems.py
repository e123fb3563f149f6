"""What an admin sees for a config with several mistakes: every one of them, at once,
each on its own line under the key path (departments by name), and exit code 2."""

from __future__ import annotations

import logging
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mailticket.config import ConfigError, load_config, parse_config
from tests.builders import config_toml, department, maildir, sqlite

SUPPORT = department("support", "example.com", agents=["alice"])


def toml(*departments, **parts) -> str:
    """A config of these departments (the support department alone by default)."""
    return config_toml(secret=None, departments=list(departments) or [SUPPORT], **parts)


def problems(text: str) -> list[str]:
    """The lines of the ConfigError, after its 'x.toml: invalid configuration' heading."""
    with pytest.raises(ConfigError) as e:
        parse_config(text, "x.toml")
    head, *lines = str(e.value).splitlines()
    assert head == "x.toml: invalid configuration"
    return lines


def check_config(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    return subprocess.run(
        [sys.executable, "-m", "mailticket", "--config", str(path), "check-config",
         "--offline"], capture_output=True, text=True, cwd=tmp_path)


# -- 1. every problem in one run ------------------------------------------------------

def test_check_config_lists_every_problem_in_one_run_and_exits_2(tmp_path):
    r = check_config(tmp_path, toml(
        {**SUPPORT, "agents": ["alice"],
         "calendar": {"timezone": "Mars/Olympus", "hours": {"wed": "17:00-09:00"}}},
        department("sales", "example.com", address="SUPPORT@example.com", agents=["carol"]),
        outgoing={"port": 99999},
        calendar={"timezone": "Europe/Pariss", "hours": {"mon": "9-17", "tue": "09:00-17:00"},
                  "holidays": "XX", "closed": ["24/12/2026"]}))
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    lines = r.stderr.splitlines()
    assert lines[0] == f"mailticket: {tmp_path / 'bad.toml'}: invalid configuration"
    keys = [line.split(": ", 1)[0] for line in lines[1:]]
    assert sorted(keys) == sorted([
        "outgoing.port", "calendar.timezone", "calendar.hours.mon", "calendar.holidays",
        "calendar.closed[0]", "departments[support].agents[0]",
        "departments[support].calendar.timezone", "departments[support].calendar.hours.wed",
        "departments[sales].address",
    ]), r.stderr
    assert ("calendar.hours.mon: '9-17' is not a list of opening hours; expected "
            "'HH:MM-HH:MM'") in r.stderr
    assert "calendar.timezone: unknown timezone 'Europe/Pariss'" in r.stderr
    assert "calendar.closed[0]: '24/12/2026' is not a date; expected 'YYYY-MM-DD'" in r.stderr
    assert ("departments[sales].address: 'SUPPORT@example.com' is used twice "
            "(also departments[support])") in r.stderr


def test_a_calendar_problem_left_once_the_fields_are_valid_is_still_reported():
    lines = problems(toml(calendar={"hours": {"mon": "closed"}}, outgoing={"port": 0}))
    assert lines == [
        "outgoing.port: Input should be greater than or equal to 1",
        "calendar: the calendar has no open hours at all; set hours such as "
        "{ mon = '09:00-17:00' }",
    ]


# -- 2. departments by name, down to the field -----------------------------------------

def test_key_path_names_the_department_and_falls_back_to_its_index():
    lines = problems(toml(
        {**SUPPORT, "calendar": {"hours": {"mon": "9-17"}},
         "imap": {"username": "support", "port": 0}},
        {"name": "Bad Name", "address": "bad@example.com", "agents": ["bob"]},
        {"address": "anon@example.com", "language": "xx"}))
    keys = [line.split(": ", 1)[0] for line in lines]
    assert keys == [
        "departments[support].imap.port", "departments[support].calendar.hours.mon",
        "departments[1].name", "departments[1].agents[0]",
        "departments[2].name", "departments[2].language",
    ]


def test_a_name_used_twice_is_reported_by_index():
    lines = problems(toml(SUPPORT, {**SUPPORT, "address": "other@example.com"}))
    assert lines == ["departments[1].name: 'support' is used twice (also departments[0]); "
                     "each department needs its own name and address"]


# -- 3. address lists ---------------------------------------------------------------------

@pytest.mark.parametrize(("key", "value", "expected"), [
    ("agents", "alice", "'alice' is not a mail address; write it like 'alice@example.com'"),
    ("agents", "bob@", "'bob@' is not a mail address"),
    ("agents", "@example.com", "'@example.com' is not a mail address"),
    ("agents", "a b@example.com", "'a b@example.com' is not a mail address"),
    ("agents", "alice@example.com, bob@example.com", "is not a mail address"),
    ("escalate_to", "Alice <alice@example.com>",
     "'Alice <alice@example.com>' is not a bare mail address; write 'alice@example.com'"),
    ("escalate_to", "lead", "'lead' is not a mail address"),
])
def test_address_lists_refuse_what_is_not_a_bare_mail_address(key, value, expected):
    [line] = problems(toml({**SUPPORT, "agents": None, key: [value]}))
    assert line.startswith(f"departments[support].{key}[0]: ")
    assert expected in line


def test_plain_addresses_are_accepted():
    cfg = parse_config(toml({
        **SUPPORT, "agents": ["alice@example.com", " Bob.Smith+desk@mail.example.org"],
        "escalate_to": ["lead@localhost"]}))
    assert cfg.departments[0].agents == ["alice@example.com", "Bob.Smith+desk@mail.example.org"]
    assert cfg.departments[0].escalate_to == ["lead@localhost"]


# -- 4. languages need templates ------------------------------------------------------------

BUILTIN = "bg, de, en, es, fr, sv"


def test_a_department_language_without_templates_is_refused():
    [line] = problems(toml({**SUPPORT, "language": "it"}))
    assert line.startswith(f"departments[support].language: there are no templates for "
                           f"language 'it'; languages with templates: {BUILTIN}")


def test_a_supported_language_without_templates_is_refused():
    [line] = problems(toml(tables={"languages": {"supported": ["en", "it"]}}))
    assert line.startswith(f"languages.supported[1]: there are no templates for language "
                           f"'it'; languages with templates: {BUILTIN}")


def test_languages_of_the_configured_template_dirs_count(tmp_path):
    (tmp_path / "global" / "it").mkdir(parents=True)
    (tmp_path / "global" / "it" / "auto_response.txt.j2").write_text("Ciao\n")
    (tmp_path / "own" / "support" / "nl").mkdir(parents=True)
    (tmp_path / "own" / "support" / "nl" / "auto_response.txt.j2").write_text("Hallo\n")
    own = {**SUPPORT, "template_dir": f"{tmp_path}/own"}
    cfg = parse_config(toml({**own, "language": "nl"},
                            department("italian", "example.com", language="it"),
                            top={"template_dir": f"{tmp_path}/global"},
                            tables={"languages": {"supported": ["en", "it", "nl"]}}))
    assert [d.language for d in cfg.departments] == ["nl", "it"]
    # nl exists for the support department only, not for another department:
    [line] = problems(toml(own, department("other", "example.com", language="nl"),
                           top={"template_dir": f"{tmp_path}/global"}))
    assert line.startswith("departments[other].language: there are no templates for "
                           "language 'nl'; languages with templates: bg, de, en, es, fr, it, sv")


def test_a_department_template_folder_is_not_a_language():
    # templates/sales/ holds the sales department's own languages: 'sales' is no language.
    [line] = problems(toml({**SUPPORT, "language": "sales"}))
    assert f"languages with templates: {BUILTIN} " in line


# -- 5. a department without agents: a warning, not an error ---------------------------------

NO_AGENTS = [SUPPORT, department("sales", "example.com")]


def test_check_config_warns_about_a_department_without_agents(tmp_path):
    r = check_config(tmp_path, toml(*NO_AGENTS))
    assert r.returncode == 0, r.stderr
    assert "configuration OK: 2 department(s)" in r.stdout
    assert r.stderr.splitlines() == [
        "warning: departments[sales].agents: no agents, so nobody is told about this "
        "department's tickets; add agents = [\"alice@example.com\"]"]


def test_the_daemon_logs_the_warning_at_start(tmp_path, caplog):
    from mailticket.app import App
    from mailticket.daemon import Daemon

    path = tmp_path / "mailticket.toml"
    path.write_text(config_toml(database=sqlite(tmp_path), outgoing=maildir(tmp_path),
                                departments=NO_AGENTS))
    app = App(load_config(path))
    app.ensure_schema()
    daemon = Daemon(app)
    with caplog.at_level(logging.WARNING, logger="mailticket.daemon"):
        daemon.start()
        daemon.stop()
    app.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert [w for w in warnings if "agents" in w] == [
        "configuration: departments[sales].agents: no agents, so nobody is told about this "
        "department's tickets; add agents = [\"alice@example.com\"]"]


# -- 6. full day names -------------------------------------------------------------------------

def test_hours_accept_full_day_names_in_any_case():
    cfg = parse_config(toml(calendar={"timezone": "Europe/Paris", "hours": {
        "Monday": "09:00-17:00", "TUESDAY": "09:00-12:00", "wed": "10:00-11:00",
        "Thu": "closed", "sunday": "10:00-12:00"}}))
    assert cfg.calendar.hours == {"mon": "09:00-17:00", "tue": "09:00-12:00",
                                  "wed": "10:00-11:00", "thu": "closed", "sun": "10:00-12:00"}
    cal = cfg.calendar.build()
    # Monday 23 and Sunday 29 November 2026, 11:00 Paris = 10:00 UTC
    assert cal.is_open(datetime(2026, 11, 23, 10, tzinfo=UTC))
    assert cal.is_open(datetime(2026, 11, 29, 10, tzinfo=UTC))
    assert not cal.is_open(datetime(2026, 11, 24, 12, tzinfo=UTC))  # Tuesday 13:00


def test_hours_refuse_an_unknown_day_and_a_day_given_twice():
    [line] = problems(toml(calendar={"hours": {"mon": "09:00-17:00",
                                                "mnday": "09:00-17:00"}}))
    assert line.startswith("calendar.hours.mnday: unknown day 'mnday'; use mon, tue")
    [line] = problems(toml(calendar={"hours": {"mon": "09:00-17:00",
                                                "Monday": "10:00-12:00"}}))
    assert line.startswith("calendar.hours: a day is given twice")


# About the TOML text itself (shapes no builder makes): written out.
@pytest.mark.parametrize(("text", "expected"), [
    ("departments = 5", ["departments: Input should be a valid list"]),
    ('departments = [5]',
     ["departments[0]: Input should be a valid dictionary or instance of DepartmentConfig"]),
    ('template_dir = 3\n[[departments]]\nname = 3\naddress = "a@example.com"',
     ["template_dir: Input should be a valid string",
      "departments[0].name: Input should be a valid string"]),
])
def test_odd_shapes_are_problems_not_crashes(text, expected):
    assert problems(text) == expected
