"""The one configuration schema: TOML in, validated objects out.

Every key is documented in ``config.example.toml``.  Validation errors name the
key path (``departments[0].imap.port``) and say how to fix it, because the admin
reading them is usually looking at a terminal, not at this file.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from mailticket.sla.calendar import BusinessCalendar, Duration, parse_duration

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
    interval: float = Field(5.0, gt=0, description="seconds between outbox runs")
    max_attempts: int = Field(50, ge=1)
    lease: float = Field(120.0, gt=0, description="seconds a sender holds a claimed batch")

    def resolved_password(self) -> str | None:
        return _secret(self.password, self.password_env, "outgoing.password")


class ListenerConfig(_Strict):
    enabled: bool = False
    protocol: Literal["smtp", "lmtp"] = "smtp"
    host: str = "127.0.0.1"
    port: int = Field(2525, ge=1, le=65535)
    max_size: int = Field(50 * 1024 * 1024, ge=1024)


class DatabaseConfig(_Strict):
    url: str = "sqlite:///mailticket.db"
    auto_upgrade: bool = True
    busy_timeout: float = Field(30.0, gt=0, description="seconds to wait for a SQLite lock")


_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class CalendarConfig(_Strict):
    timezone: str = "UTC"
    hours: dict[str, str] = Field(
        default_factory=lambda: {d: "09:00-17:00" for d in _DAYS[:5]}
    )
    holidays: str | None = None
    closed: list[str] = Field(default_factory=list)
    open: list[str] = Field(default_factory=list)

    @field_validator("hours")
    @classmethod
    def _days(cls, v: dict[str, str]) -> dict[str, str]:
        bad = sorted(set(v) - set(_DAYS))
        if bad:
            raise ValueError(f"unknown day {bad[0]!r}; use mon, tue, wed, thu, fri, sat, sun")
        return v

    _built: BusinessCalendar | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _build(self) -> CalendarConfig:
        # Building here means a bad calendar is reported at start-up, with the key path.
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


class LimitsConfig(_Strict):
    auto_responses_per_sender_per_day: int = Field(3, ge=0)
    lists_open_tickets: bool = False
    notification_attachments_max: int = Field(10 * 1024 * 1024, ge=0)


class DepartmentConfig(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    address: str = Field(pattern=r"^[^@\s+]+@[^@\s]+$")
    display_name: str | None = None
    tag: str | None = Field(None, description="word in the subject tag, default: the name")
    agents: list[str] = Field(default_factory=list)
    escalate_to: list[str] = Field(default_factory=list)
    language: str = "en"
    imap: ImapConfig | None = None
    calendar: CalendarConfig | None = None
    sla: SlaConfig | None = None
    template_dir: str | None = None
    hide_agent_names: bool = False
    copy_answers_to_agents: bool = False
    notify_customer_on_close: bool = True

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


class LanguageConfig(_Strict):
    supported: list[str] = Field(default_factory=lambda: ["en", "fr", "sv", "es", "bg", "de"],
                                 min_length=1)
    min_confidence: float = Field(0.5, ge=0, le=1)
    low_memory: bool = True

    @field_validator("supported")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        from mailticket.mail.language import LanguageDetector

        LanguageDetector(frozenset(x.lower() for x in v))  # ValueError names the bad code
        return [x.lower() for x in v]


class Config(_Strict):
    secret_env: str = "MAILTICKET_SECRET"
    secret: str | None = None
    instance: str | None = Field(
        None, description="value of the loop header we stamp; unset: derived from the secret")
    database: DatabaseConfig = DatabaseConfig()
    outgoing: OutgoingConfig = OutgoingConfig()
    listener: ListenerConfig = ListenerConfig()
    calendar: CalendarConfig = CalendarConfig()
    sla: SlaConfig = SlaConfig()
    limits: LimitsConfig = LimitsConfig()
    ingest: IngestConfig = IngestConfig()
    languages: LanguageConfig = LanguageConfig()
    template_dir: str | None = None
    departments: list[DepartmentConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Config:
        seen: dict[str, str] = {}
        for i, d in enumerate(self.departments):
            for what, value in (("name", d.name), ("address", d.key)):
                if (what, value) in seen:
                    raise ValueError(
                        f"departments[{i}].{what} {value!r} is used twice; "
                        "each department needs its own name and address"
                    )
                seen[(what, value)] = d.name  # type: ignore[index]
        return self

    # -- lookups the rest of the code needs -------------------------------------
    def department(self, name: str) -> DepartmentConfig:
        for d in self.departments:
            if d.name == name:
                return d
        raise KeyError(name)

    def department_for_address(self, addr: str) -> DepartmentConfig | None:
        """The department an address belongs to, plus-addresses included."""
        local, _, domain = addr.lower().partition("@")
        base = f"{local.split('+', 1)[0]}@{domain}"
        for d in self.departments:
            if d.key == base:
                return d
        return None

    def calendar_for(self, dept: DepartmentConfig) -> BusinessCalendar:
        return (dept.calendar or self.calendar).build()

    def sla_for(self, dept: DepartmentConfig) -> SlaConfig:
        return dept.sla or self.sla

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


def _format_error(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        path = ""
        for part in e["loc"]:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        msg = e["msg"].removeprefix("Value error, ")
        hint = _HINTS.get(e["type"])
        lines.append(f"{path or '(top level)'}: {msg}" + (f" — {hint}" if hint else ""))
    return "\n".join(lines)


def parse_config(text: str, source: str = "<config>") -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{source}: not valid TOML: {e}") from None
    try:
        return Config.model_validate(data)
    except ValidationError as e:
        raise ConfigError(f"{source}: invalid configuration\n{_format_error(e)}") from None


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
