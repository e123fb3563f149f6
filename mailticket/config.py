"""The one configuration schema: TOML in, validated objects out.

Every key is documented in ``config.example.toml``.  Validation errors name the
key path (``departments[support].imap.port``) and say how to fix it, because the
admin reading them is usually looking at a terminal, not at this file.  Every field
is checked on its own, so one run lists every problem (a bad timezone does not
hide a bad port); ``parse_config`` is the entry point that does so.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from mailticket.languages import CODES
from mailticket.mail.tokens import base_address
from mailticket.sla.calendar import (
    _DAY_INDEX,
    _DAY_KEYS,
    BusinessCalendar,
    Duration,
    _holiday_source,
    _load_timezone,
    _parse_date,
    _parse_hours,
    parse_duration,
    parse_period,
)

DEFAULT_CONFIG_ENV = "MAILTICKET_CONFIG"


class ConfigError(Exception):
    """A config that cannot be used; the message is meant for the admin as-is."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _secret(literal: str | None, env: str | None, what: str) -> str | None:
    """Resolve a secret: the environment variable named by ``*_env`` wins over a literal."""
    if env:
        value = os.environ.get(env)
        if value:
            return value
    return literal


def _pem_file(value: str | None) -> str | None:
    """A certificate file named in the config must be there, or the first connection
    would fail with an error that does not name the key."""
    if value is not None and not Path(value).is_file():
        raise ValueError(f"no file {value!r}; give the path of a PEM file")
    return value


PemFile = Annotated[str | None, AfterValidator(_pem_file)]


class ImapConfig(_Strict):
    host: str = "localhost"
    port: int = Field(993, ge=1, le=65535)
    security: Literal["tls", "starttls", "none"] = "tls"
    username: str
    password_env: str | None = None
    password: str | None = None
    folder: str = "INBOX"
    poll_interval: float = Field(60.0, gt=0, description="seconds between polls")
    idle: bool = True
    idle_renew: float = Field(600.0, gt=0, le=1740)
    timeout: float = Field(30.0, gt=0)
    ca_file: PemFile = Field(None, description=(
        "PEM file of the CA that signed the server's certificate (a private CA); unset: the "
        "system's trusted CAs"))

    def resolved_password(self) -> str | None:
        return _secret(self.password, self.password_env, "imap.password")


class OutgoingConfig(_Strict):
    transport: Literal["smtp", "maildir"] = "smtp"
    maildir: str = "var/sent"
    host: str = "localhost"
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password_env: str | None = None
    password: str | None = None
    timeout: float = Field(30.0, gt=0)
    ca_file: PemFile = Field(None, description="as imap.ca_file, for the SMTP relay")
    interval: float = Field(5.0, gt=0, description="seconds between outbox runs")
    max_attempts: int = Field(50, ge=1)
    lease: float = Field(120.0, gt=0, description="seconds a sender holds a claimed batch")
    connections: int = Field(1, ge=1, le=32,
                             description="SMTP sessions the outbox sends over at once")

    def resolved_password(self) -> str | None:
        return _secret(self.password, self.password_env, "outgoing.password")


class DaemonsConfig(_Strict):
    """Several daemons on one database (``mailticket/daemons.py``, ``leases.py``): how
    often each says it lives, and how long a silent one keeps its mailboxes and mail."""

    heartbeat: float = Field(2.0, gt=0, le=60, description="seconds between heartbeats")
    dead_after: float = Field(10.0, gt=0, le=600, description=(
        "seconds without a heartbeat after which a daemon is dead and its mailboxes and "
        "claimed mail are taken over"))

    @model_validator(mode="after")
    def _beats_before_death(self) -> DaemonsConfig:
        if self.dead_after < 3 * self.heartbeat:
            raise ValueError(
                f"dead_after ({self.dead_after:g} s) must be at least three heartbeats "
                f"({3 * self.heartbeat:g} s): a beat delayed by a busy machine would "
                "make a live daemon look dead; raise dead_after or lower heartbeat")
        return self


class ListenerConfig(_Strict):
    enabled: bool = False
    protocol: Literal["smtp", "lmtp"] = "smtp"
    host: str = "127.0.0.1"
    port: int = Field(2525, ge=1, le=65535)
    max_size: int = Field(50 * 1024 * 1024, ge=1024)
    tls_cert: PemFile = Field(None, description="PEM certificate (chain): STARTTLS offered")
    tls_key: PemFile = Field(None, description="PEM private key of tls_cert")

    @model_validator(mode="after")
    def _both(self) -> ListenerConfig:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together: give both (STARTTLS "
                             "offered) or neither")
        return self


class StorageConfig(_Strict):
    encryption_key_env: str | None = Field(None, description=(
        "environment variable holding the master key(s) that encrypt mail content at rest, "
        "comma-separated, the first encrypting (docs/deploy.md#encryption-at-rest)"))


class DatabaseConfig(_Strict):
    url: str = "sqlite:///mailticket.db"
    auto_upgrade: bool = True
    busy_timeout: float = Field(30.0, gt=0, description="seconds to wait for a SQLite lock")


def _quiet(where: str, check: Callable[[], object]) -> None:
    """Run a calendar check, without its own "where: " prefix: the key path says it."""
    try:
        check()
    except ValueError as e:
        raise ValueError(str(e).removeprefix(f"{where}: ")) from None


def _day(key: str) -> str:
    """``mon`` .. ``sun`` or ``monday`` .. ``sunday``, any case, as ``mon`` .. ``sun``."""
    index = _DAY_INDEX.get(key.strip().lower())
    if index is None:
        raise ValueError(f"unknown day {key!r}; use mon, tue, wed, thu, fri, sat, sun "
                         "(or monday … sunday)")
    return _DAY_KEYS[index]


def _hours(text: str) -> str:
    _quiet("hours", lambda: _parse_hours(text, "hours"))
    return text


def _closed_day(text: str) -> str:
    _quiet("closed", lambda: _parse_date(text, "closed"))
    return text


def _open_day(text: str) -> str:
    # Whether a weekday has hours to copy is the whole calendar's business (_build).
    _quiet("open", lambda: BusinessCalendar._parse_open_day(text, ((0, 1),)))
    return text


class CalendarConfig(_Strict):
    timezone: str = "UTC"
    hours: dict[Annotated[str, AfterValidator(_day)], Annotated[str, AfterValidator(_hours)]] = \
        Field(default_factory=lambda: {d: "09:00-17:00" for d in _DAY_KEYS[:5]})
    holidays: str | None = None
    closed: list[Annotated[str, AfterValidator(_closed_day)]] = Field(default_factory=list)
    open: list[Annotated[str, AfterValidator(_open_day)]] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, v: str) -> str:
        _load_timezone(v)
        return v

    @field_validator("holidays")
    @classmethod
    def _holidays(cls, v: str | None) -> str | None:
        if v is not None:
            _holiday_source(v)
        return v

    @field_validator("hours", mode="wrap")
    @classmethod
    def _one_name_per_day(cls, v: Any, handler: ValidatorFunctionWrapHandler) -> dict[str, str]:
        hours: dict[str, str] = handler(v)
        if isinstance(v, dict) and len(hours) < len(v):
            raise ValueError(f"a day is given twice in {sorted(v)}; keep one of each pair")
        return hours

    _built: BusinessCalendar | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _build(self) -> CalendarConfig:
        # What is left once each field is valid: a date both closed and open, no hours.
        self._built = BusinessCalendar(
            timezone=self.timezone, hours=self.hours, holidays=self.holidays,
            closed=self.closed, open=self.open,
        )
        return self

    def build(self) -> BusinessCalendar:
        assert self._built is not None
        return self._built


def _check_duration(v: str) -> str:
    parse_duration(v)
    return v


DurationText = Annotated[str, Field(min_length=1)]


class SlaConfig(_Strict):
    response: DurationText = "1 business day"
    warn_at: float = Field(0.75, gt=0, le=1)
    escalation: list[DurationText] = Field(default_factory=list)
    check_interval: float = Field(30.0, gt=0, description="seconds between SLA scans")

    @field_validator("response")
    @classmethod
    def _response(cls, v: str) -> str:
        return _check_duration(v)

    @field_validator("escalation")
    @classmethod
    def _escalation(cls, v: list[str]) -> list[str]:
        for item in v:
            _check_duration(item)
        return v

    @property
    def response_duration(self) -> Duration:
        return parse_duration(self.response)


class StaffingConfig(_Strict):
    """What ``mailticket staffing`` assumes about the work (docs/reports.md)."""

    handle_time: float = Field(10.0, gt=0, description="minutes of work per customer mail, "
                               "when agents record no #time")
    shrinkage: float = Field(0.3, ge=0, lt=1, description="share of paid time off the queue")
    occupancy: float = Field(0.85, gt=0, le=1, description="share of queue time spent working")
    target: float = Field(0.95, gt=0, le=1, description="share of mail answered by its due instant")
    agents_on_duty: int | None = Field(None, ge=0, description="the current roster in each "
                                       "open hour; unset: the department's agent count")


class LimitsConfig(_Strict):
    auto_responses_per_sender_per_day: int = Field(3, ge=0)
    lists_open_tickets: bool = False
    notification_attachments_max: int = Field(10 * 1024 * 1024, ge=0)


class FeedbackConfig(_Strict):
    """Ask the customer "how did we do?" after a ticket is closed with an answer."""

    enabled: bool = False
    delay: str = Field("4 hours", description="after the close: a quick reopen cancels it")
    per_customer: str = Field("30 days", description="at most one question per customer")
    low_grade: int = Field(2, ge=0, le=5, description="grades up to this are told to agents")

    @field_validator("delay", "per_customer")
    @classmethod
    def _period(cls, v: str) -> str:
        parse_period(v)
        return v

    @property
    def delay_period(self) -> timedelta:
        return parse_period(self.delay)

    @property
    def per_customer_period(self) -> timedelta:
        return parse_period(self.per_customer)


class MetricsConfig(_Strict):
    """Prometheus metrics served by the daemon (``mailticket/ops/metrics.py``)."""

    listen: str | None = Field(None, description="host:port, e.g. 127.0.0.1:9464; unset: off")

    @field_validator("listen")
    @classmethod
    def _host_port(cls, v: str | None) -> str | None:
        if v is None:
            return v
        host, sep, port = v.rpartition(":")
        if not sep or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{v!r} is not host:port; write e.g. '127.0.0.1:9464' "
                             "(loopback unless the scraper is elsewhere)")
        return v

class RetentionConfig(_Strict):
    """How long a closed ticket keeps its content (mail, texts, names) before it is
    erased as ``customer forget`` does; its numbers stay for the reports."""

    closed_after: str | None = Field(None, description="unset: kept for ever")
    check_every: str = Field("1 day", description="how often the daemon applies it")

    @field_validator("closed_after", "check_every")
    @classmethod
    def _period(cls, v: str | None) -> str | None:
        if v is not None:
            parse_period(v)
        return v

    @property
    def closed_after_period(self) -> timedelta | None:
        return parse_period(self.closed_after) if self.closed_after else None

    @property
    def check_every_period(self) -> timedelta:
        return parse_period(self.check_every)


_ADDR_SPEC = re.compile(r"[^@\s<>(),;:\"\[\]]+@[^@\s<>(),;:\"\[\].]+(\.[^@\s<>(),;:\"\[\].]+)*")
_NAME_ADDR = re.compile(r"[^<>]*<([^<>]*)>\s*")


def _mail_address(text: str) -> str:
    """A bare ``name@example.com``: the form compared with From and written into To."""
    text = text.strip()
    if _ADDR_SPEC.fullmatch(text):
        return text
    named = _NAME_ADDR.fullmatch(text)
    if named and _ADDR_SPEC.fullmatch(named.group(1).strip()):
        raise ValueError(f"{text!r} is not a bare mail address; write "
                         f"{named.group(1).strip()!r} (display names are not used here)")
    raise ValueError(f"{text!r} is not a mail address; write it like 'alice@example.com'")


MailAddress = Annotated[str, AfterValidator(_mail_address)]


def _template_languages(dirs: list[str | Path | None], department: str | None) -> set[str]:
    """Languages with templates: ``<lang>/`` or ``<department>/<lang>/`` holding a ``.j2``."""
    from mailticket.outgoing.templates import builtin_dir

    found: set[str] = set()
    for base in [*(Path(d) for d in dirs if d), builtin_dir()]:
        for parent in (base, base / department) if department else (base,):
            if parent.is_dir():
                found.update(c.name for c in parent.iterdir()
                             if c.is_dir() and any(c.glob("*.j2")))
    return found


def _check_templates(lang: str, have: set[str]) -> str:
    if lang not in have:
        raise ValueError(f"there are no templates for language {lang!r}; languages with "
                         f"templates: {', '.join(sorted(have)) or 'none'} (or add a folder "
                         f"{lang}/ to template_dir)")
    return lang


def _global_template_dir(info: ValidationInfo) -> str | None:
    """The top-level ``template_dir``, which ``parse_config`` hands down as context."""
    return (info.context or {}).get("template_dir")


def _any_department_languages(info: ValidationInfo) -> set[str]:
    """Languages some department has templates for (its own ``template_dir`` included)."""
    found = _template_languages([_global_template_dir(info)], None)
    for folder, name in (info.context or {}).get("departments", []):
        found |= _template_languages([folder, _global_template_dir(info)], name)
    return found


_DEPT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


class DepartmentConfig(_Strict):
    name: str = Field(pattern=_DEPT_NAME.pattern)
    address: MailAddress
    display_name: str | None = None
    tag: str | None = Field(None, description="word in the subject tag, default: the name")
    agents: list[MailAddress] = Field(default_factory=list)
    escalate_to: list[MailAddress] = Field(default_factory=list)
    template_dir: str | None = None  # before ``language``, whose check reads it
    language: str = "en"
    imap: ImapConfig | None = None
    calendar: CalendarConfig | None = None
    sla: SlaConfig | None = None
    hide_agent_names: bool = False
    copy_answers_to_agents: bool = False
    notify_customer_on_close: bool = True
    staffing: StaffingConfig | None = None
    feedback: FeedbackConfig | None = None
    retention: RetentionConfig | None = None

    @field_validator("address")
    @classmethod
    def _no_plus(cls, v: str) -> str:
        if "+" in v:
            raise ValueError(f"{v!r} has a '+'; give the plain address, its plus-addresses "
                             "reach the department anyway")
        return v

    @field_validator("language")
    @classmethod
    def _has_templates(cls, v: str, info: ValidationInfo) -> str:
        dirs = [info.data.get("template_dir"), _global_template_dir(info)]
        return _check_templates(v, _template_languages(dirs, info.data.get("name")))

    @property
    def key(self) -> str:
        return self.address.lower()

    @property
    def sender_name(self) -> str:
        return self.display_name or self.name.capitalize()

    @property
    def tag_word(self) -> str:
        return self.tag or self.name.capitalize()


class IngestConfig(_Strict):
    # Worker processes that fetch and parse mail while the daemon stores it: a backlog
    # goes ~60 % faster on two cores, for ~60 MB (0: all in the daemon's own process).
    # One writer is the limit, so more than 2 rarely helps.  Unset: see ``workers``.
    parse_workers: int | None = Field(None, ge=0, le=16)

    def workers(self, cpus: int) -> int:
        """``parse_workers``, or, unset, one worker where there is a second core for it."""
        if self.parse_workers is not None:
            return self.parse_workers
        return 1 if cpus >= 2 else 0


def _supported_language(code: str, info: ValidationInfo) -> str:
    from mailticket.incoming.language import LanguageDetector

    code = code.strip().lower()
    LanguageDetector(frozenset({code}))  # ValueError names a code Lingua does not know
    return _check_templates(code, _any_department_languages(info))


class LanguageConfig(_Strict):
    supported: list[Annotated[str, AfterValidator(_supported_language)]] = Field(
        default_factory=lambda: list(CODES), min_length=1)
    min_confidence: float = Field(0.5, ge=0, le=1)
    low_memory: bool = True


class LoggingConfig(_Strict):
    # text: one readable line per event; json: one JSON object per line, with the
    # mail's message_id, ticket and department as fields when known.
    format: Literal["text", "json"] = "text"
class FaqConfig(_Strict):
    suggest: int = Field(2, ge=0, le=10, description=(
        "published FAQ entries an auto-response may suggest; 0: none"))


class Config(_Strict):
    secret_env: str = "MAILTICKET_SECRET"
    secret: str | None = None
    instance: str | None = Field(
        None, description="value of the loop header we stamp; unset: derived from the secret")
    database: DatabaseConfig = DatabaseConfig()
    storage: StorageConfig = StorageConfig()
    outgoing: OutgoingConfig = OutgoingConfig()
    listener: ListenerConfig = ListenerConfig()
    calendar: CalendarConfig = CalendarConfig()
    sla: SlaConfig = SlaConfig()
    limits: LimitsConfig = LimitsConfig()
    staffing: StaffingConfig = StaffingConfig()
    ingest: IngestConfig = IngestConfig()
    languages: LanguageConfig = LanguageConfig()
    feedback: FeedbackConfig = FeedbackConfig()
    metrics: MetricsConfig = MetricsConfig()
    logging: LoggingConfig = LoggingConfig()
    faq: FaqConfig = FaqConfig()
    retention: RetentionConfig = RetentionConfig()
    daemons: DaemonsConfig = DaemonsConfig()
    template_dir: str | None = None
    departments: list[DepartmentConfig] = Field(min_length=1)

    # Names and addresses are unique: checked by ``parse_config`` over the raw data,
    # so that a duplicate is reported along with every other problem.

    def warnings(self) -> list[str]:
        """Usable, but probably not what the admin meant: for check-config and the daemon log."""
        return [f"departments[{d.name}].agents: no agents, so nobody is told about this "
                f"department's tickets; add agents = [\"alice@example.com\"]"
                for d in self.departments if not d.agents]

    def literal_secrets(self) -> list[str]:
        """Key paths that hold a password or secret in the file itself (not ``*_env``)."""
        keys = ["secret"] if self.secret else []
        keys += ["outgoing.password"] if self.outgoing.password else []
        return keys + [f"departments[{d.name}].imap.password" for d in self.departments
                       if d.imap is not None and d.imap.password]

    # -- lookups the rest of the code needs -------------------------------------
    def department(self, name: str) -> DepartmentConfig:
        for d in self.departments:
            if d.name == name:
                return d
        raise KeyError(name)

    def department_for_address(self, addr: str) -> DepartmentConfig | None:
        """The department an address belongs to, plus-addresses included."""
        base = base_address(addr)
        for d in self.departments:
            if d.key == base:
                return d
        return None

    def calendar_for(self, dept: DepartmentConfig) -> BusinessCalendar:
        return (dept.calendar or self.calendar).build()

    def sla_for(self, dept: DepartmentConfig) -> SlaConfig:
        return dept.sla or self.sla

    def feedback_for(self, dept: DepartmentConfig) -> FeedbackConfig:
        return dept.feedback or self.feedback

    def retention_for(self, dept: DepartmentConfig) -> RetentionConfig:
        return dept.retention or self.retention

    def staffing_for(self, dept: DepartmentConfig) -> StaffingConfig:
        return dept.staffing or self.staffing

    @property
    def own_addresses(self) -> frozenset[str]:
        return frozenset(d.key for d in self.departments)

    def resolved_secret(self) -> str | None:
        return _secret(self.secret, self.secret_env, "secret")


_HINTS = {
    "missing": "add this key",
    "extra_forbidden": "remove it or fix its spelling (see config.example.toml)",
    "literal_error": "use one of the listed values",
}


def _department_labels(data: dict[str, Any]) -> list[str]:
    """How each department is named in messages: its name, else (none, or twice) its index."""
    names = [d.get("name") for d in _raw_departments(data)]
    count = Counter(n for n in names if isinstance(n, str))
    return [n if isinstance(n, str) and _DEPT_NAME.fullmatch(n) and count[n] == 1 else str(i)
            for i, n in enumerate(names)]


def _path(loc: tuple[int | str, ...], labels: list[str]) -> str:
    path = ""
    for i, part in enumerate(loc):
        if part == "[key]":  # pydantic's marker for a bad dict key: the key is the name
            continue
        if isinstance(part, int):
            named = i == 1 and loc[0] == "departments" and part < len(labels)
            path += f"[{labels[part] if named else part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "(top level)"


def _line(e: ErrorDetails, labels: list[str]) -> str:
    msg = e["msg"].removeprefix("Value error, ")
    hint = _HINTS.get(e["type"])
    return f"{_path(e['loc'], labels)}: {msg}" + (f" — {hint}" if hint else "")


def _raw_departments(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The departments as written, for the checks made before (or beside) validation."""
    depts = data.get("departments")
    return [d if isinstance(d, dict) else {} for d in depts] if isinstance(depts, list) else []


def _duplicates(data: dict[str, Any], labels: list[str]) -> list[str]:
    lines = []
    for what in ("name", "address"):
        first: dict[str, int] = {}
        for i, d in enumerate(_raw_departments(data)):
            value = d.get(what)
            if not isinstance(value, str):
                continue
            if value.lower() in first:
                lines.append(f"departments[{labels[i]}].{what}: {value!r} is used twice "
                             f"(also departments[{labels[first[value.lower()]]}]); each "
                             "department needs its own name and address")
            first.setdefault(value.lower(), i)
    return lines


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def parse_config(text: str, source: str = "<config>") -> Config:
    """The validated config, or a ConfigError listing every problem, one line each."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{source}: not valid TOML: {e}") from None
    labels = _department_labels(data)
    problems = _duplicates(data, labels)
    context = {"template_dir": _text(data.get("template_dir")), "departments": [
        (_text(d.get("template_dir")), _text(d.get("name")))
        for d in _raw_departments(data)]}
    try:
        config = Config.model_validate(data, context=context)
    except ValidationError as e:
        problems = [_line(x, labels) for x in e.errors()] + problems
    if problems:
        raise ConfigError(f"{source}: invalid configuration\n" + "\n".join(problems))
    return config


def find_config_path(explicit: str | None) -> Path:
    candidates = [explicit, os.environ.get(DEFAULT_CONFIG_ENV), "mailticket.toml",
                  "config.toml", "config.example.toml"]
    for c in candidates:
        if c:
            p = Path(c)
            if p.exists() or c in (explicit, os.environ.get(DEFAULT_CONFIG_ENV)):
                return p
    raise ConfigError(
        "no configuration found: pass --config FILE, set MAILTICKET_CONFIG, "
        "or copy config.example.toml to mailticket.toml"
    )


def load_config(path: str | Path) -> Config:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{p}: cannot read configuration: {e.strerror}") from None
    return parse_config(text, str(p))
