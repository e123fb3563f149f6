"""Helpdesk configs and mails for tests and benchmarks, built from parts instead of by hand.

A test states only the part its behaviour depends on (a department's template folder,
an SLA with escalations …) and takes the rest from here, so a new config key is
added in one place.  bench/ uses it too, which is why nothing here imports pytest.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

# A table's body: keys to render, or TOML lines written out by the caller.
Table = Mapping[str, Any] | str

WEEK = {d: "09:00-17:00" for d in ("mon", "tue", "wed", "thu", "fri")}
PARIS_OFFICE = {"timezone": "Europe/Paris", "hours": WEEK, "holidays": "FR"}
ONE_DAY = {"response": "1 business day"}


def toml_value(value: Any) -> str:
    """One TOML value: strings, numbers, booleans, lists and (inline) tables."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        return json.dumps(str(value))  # a JSON string is a valid TOML basic string
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, Sequence):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def _lines(body: Table) -> str:
    if isinstance(body, str):
        return body.rstrip("\n") + "\n"
    return "".join(f"{k} = {toml_value(v)}\n" for k, v in body.items() if v is not None)


def maildir(folder: Path | str) -> dict[str, str]:
    """[outgoing] that writes every mail into ``folder/sent`` (no mail server needed)."""
    return {"transport": "maildir", "maildir": f"{folder}/sent"}


def sqlite(folder: Path | str, name: str = "x.db") -> dict[str, str]:
    return {"url": f"sqlite:///{folder}/{name}"}


def department(name: str, domain: str, *, display_name: str | None = None,
               agents: Sequence[str] = (), escalate_to: Sequence[str] = (),
               **keys: Any) -> dict[str, Any]:
    """A department answering at ``name@domain``; ``agents`` and ``escalate_to`` are local
    parts at the same domain."""
    def at(locals_: Sequence[str]) -> list[str] | None:
        return [f"{a}@{domain}" for a in locals_] or None

    return {"name": name, "address": f"{name}@{domain}", "display_name": display_name,
            "agents": at(agents), "escalate_to": at(escalate_to), **keys}


def config_toml(*, database: Table | None = None, departments: Sequence[Table],
                secret: str | None = "s", instance: str | None = None, top: Table = "",
                outgoing: Table | None = None,
                calendar: Table | None = None, sla: Table | None = None,
                tables: Mapping[str, Table] | None = None, extra: str = "") -> str:
    """The whole config file.  ``top``: keys (or TOML) placed before the first table;
    ``tables``: more named tables; ``extra``: TOML lines placed just before the
    departments.  Without ``database`` the default database is configured."""
    out = _lines({"secret": secret, "instance": instance})
    out += _lines(top) if top else ""
    named = {"database": database, "outgoing": outgoing, "calendar": calendar, "sla": sla,
             **(tables or {})}
    out += "".join(f"[{k}]\n" + _lines(v) for k, v in named.items() if v is not None)
    out += _lines(extra) if extra else ""
    out += "".join("[[departments]]\n" + _lines(d) for d in departments)
    return out


# -- mails ---------------------------------------------------------------------------

DATE = "Mon, 23 Nov 2026 10:00:00 +0100"


def mail(sender: str | None, to: str | Sequence[str], subject: str, body: str, *,
         cc: Sequence[str] | None = None, in_reply_to: str | None = None,
         references: str | None = None, message_id: str | None = None,
         msgid_domain: str = "client.example", date: str | None = DATE,
         subtype: str = "plain", html: str | None = None,
         headers: Mapping[str, str] | None = None) -> EmailMessage:
    """A mail as a customer's or agent's client writes it.  ``sender=None`` leaves out
    From; ``references`` defaults to ``in_reply_to``; ``headers`` come last because
    set_content drops Content-* headers set before it."""
    m = EmailMessage()
    if sender is not None:
        m["From"] = sender
    m["To"] = to if isinstance(to, str) else ", ".join(to)
    if cc:
        m["Cc"] = ", ".join(cc)
    m["Subject"] = subject
    m["Message-ID"] = message_id or make_msgid(domain=msgid_domain)
    if date:
        m["Date"] = date
    if in_reply_to:
        m["In-Reply-To"] = in_reply_to
        m["References"] = references or in_reply_to
    m.set_content(body, subtype=subtype)
    if html is not None:
        m.add_alternative(html, subtype="html")
    for k, v in (headers or {}).items():
        m[k] = v
    return m


def reply(note: EmailMessage, sender: str, text: str, *, html: str | None = None,
          to: str | None = None, threading: bool = True, prefix: str = "Re: ",
          subtype: str = "plain",
          msgid_domain: str = "agent-client.example",
          headers: Mapping[str, str] | None = None) -> EmailMessage:
    """An answer to ``note`` (a notification, an auto-response …) as a mail client builds
    it: to its Reply-To, and with ``threading`` the In-Reply-To/References chain."""
    thread = {"in_reply_to": str(note["Message-ID"]),
              "references": f"{note.get('References', '')} {note['Message-ID']}".strip()}
    return mail(sender, to or str(note["Reply-To"]), prefix + str(note["Subject"]), text,
                subtype=subtype, html=html, msgid_domain=msgid_domain, date=None, headers=headers,
                **(thread if threading else {}))
