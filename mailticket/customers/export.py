"""``customer export``: everything held about one person, for their right of access.

What is theirs: the mails they wrote and the mails the company wrote to them (with
their attachments), internal notes on their own tickets, and each ticket's history.
What is not: mails other customers wrote (even on a ticket they were Cc'd on), and
other people's addresses and names, which the JSON shows as ``REDACTED``.  Raw mails
are handed over byte-exact, as they were sent or received; on a ticket that is not
theirs only the mails they wrote go out raw (the others name the other customer).
"""

from __future__ import annotations

import json
import mailbox
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailticket.config import Config
from mailticket.customers.forget import find_person, staff_addresses
from mailticket.customers.readme import readme
from mailticket.customers.redact import REDACTED, Replacer, is_pseudonym
from mailticket.incoming.parse import parse
from mailticket.store.models import Contact, Message, Ticket
from mailticket.views import ticket_detail

_UNSAFE = re.compile(r"[^\w.\-]+")


def safe_name(name: str) -> str:
    """A file name that stays inside its folder on any system."""
    cleaned = _UNSAFE.sub("_", name).strip("._") or "file"
    return cleaned[:120]


def is_theirs(m: Message, address: str, own_ticket: bool, staff: frozenset[str]) -> bool:
    """A mail they wrote, a mail the company wrote to them, or a note on their ticket."""
    if m.from_addr == address:
        return True
    if m.kind == "note":
        return own_ticket
    to_them = address in m.to or address in m.cc
    return to_them and (m.direction == "out" or m.from_addr in staff)


def export(s: Session, config: Config, address: str, out: Path, now: datetime,
           company: str) -> dict[str, Any]:
    person = find_person(s, address)
    addr = person.address
    staff = staff_addresses(config)
    for sub in ("tickets", "mail", "attachments"):
        (out / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
    box = mailbox.mbox(str(out / "mail.mbox"))
    mails = files = 0
    tickets = 0
    languages: list[str] = []
    for t in s.scalars(select(Ticket).where(Ticket.id.in_(person.tickets + person.shared))
                       .order_by(Ticket.id)):
        own = t.customer == addr
        tickets += 1
        if own and t.language:
            languages.append(t.language)
        d = ticket_detail(config, t, now)
        kept = [(n, m, md) for n, (m, md) in enumerate(zip(t.messages, d["messages"],
                                                           strict=True), 1)
                if is_theirs(m, addr, own, staff)]
        d["messages"] = [md for _, _, md in kept]
        others = _others(config, t, addr, staff)
        d = Replacer({o: REDACTED for o in others},
                     {p.name for p in t.participants if p.address != addr}).json(d)
        if not own:
            d["subject"] = ""
        (out / "tickets" / f"{t.id}.json").write_text(
            json.dumps(d, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        for n, m, _ in kept:
            if not (own or m.from_addr == addr) or not m.raw:
                continue
            raw = m.raw
            (out / "mail" / f"{t.id}-{n}.eml").write_bytes(raw)
            box.add(raw)
            mails += 1
            for i, a in enumerate(parse(raw).attachments, 1):
                if a.data is not None:
                    name = f"{t.id}-{n}-{i}-{safe_name(a.filename or 'file')}"
                    (out / "attachments" / name).write_bytes(a.data)
                    files += 1
    box.flush()
    box.close()
    contact = s.get(Contact, addr)
    language = (contact.language if contact and contact.language
                else (languages[-1] if languages else None))
    text = readme(language, company=company, address=addr, redacted=REDACTED,
                  date=now.date().isoformat(), tickets=tickets, mails=mails, files=files)
    (out / "README.txt").write_text(text, encoding="utf-8")
    return {"address": addr, "out": str(out), "language": language or "en",
            "tickets": tickets, "mails": mails, "attachments": files}


def _others(config: Config, t: Ticket, address: str, staff: frozenset[str]) -> set[str]:
    """The addresses on a ticket that belong to people other than ``address``."""
    found = {t.customer, *(p.address for p in t.participants)}
    for m in t.messages:
        found |= {m.from_addr, *m.to, *m.cc}
    return {a.lower() for a in found
            if a and a.lower() != address and a.lower() not in staff and not is_pseudonym(a)
            and "@" in a and config.department_for_address(a) is None}
