"""``customer show``: what is held about one address, at a glance."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import String, and_, cast, func, or_, select
from sqlalchemy.orm import Session

from mailticket.config import Config
from mailticket.customers.forget import find_person
from mailticket.store.models import Contact, Message, Ticket
from mailticket.views import _iso, _ref


def summary(s: Session, config: Config, address: str) -> dict[str, Any] | None:
    """Their tickets with message counts, language, first and last contact; None when
    nothing is held about the address."""
    person = find_person(s, address)
    addr = person.address
    ids = person.tickets + person.shared
    if not ids:
        return None
    tz = config.calendar.timezone
    # What they wrote, and what was sent to them: another person's mail that merely
    # Cc'd them, or an agent's reply that came in, is neither.
    sent_to = or_(cast(Message.to, String).contains(f'"{addr}"'),
                  cast(Message.cc, String).contains(f'"{addr}"'))
    theirs = or_(Message.from_addr == addr, and_(Message.direction == "out", sent_to))
    counts: Counter[tuple[int, str]] = Counter()
    first: datetime | None = None
    last: datetime | None = None
    for tid, wrote, n, lo, hi in s.execute(
            select(Message.ticket_id, Message.from_addr == addr, func.count(),
                   func.min(Message.date), func.max(Message.date))
            .where(Message.ticket_id.in_(ids), theirs)
            .group_by(Message.ticket_id, Message.from_addr == addr)):
        counts[(int(tid or 0), "in" if wrote else "out")] += int(n)
        first = lo if first is None or lo < first else first
        last = hi if last is None or hi > last else last
    contact = s.get(Contact, addr)
    tickets = []
    for t in s.scalars(select(Ticket).where(Ticket.id.in_(ids)).order_by(Ticket.id)):
        tickets.append({
            "id": t.id, "ref": _ref(config, t), "department": t.department,
            "subject": t.subject if t.customer == addr else "",
            "role": "customer" if t.customer == addr else "cc", "state": t.state,
            "language": t.language, "created_at": _iso(t.created_at, tz),
            "updated_at": _iso(t.updated_at, tz),
            "messages_in": counts[(t.id, "in")], "messages_out": counts[(t.id, "out")],
        })
    languages = Counter(t["language"] for t in tickets if t["language"])
    return {
        "address": addr, "names": sorted(person.names),
        "language": (contact.language if contact and contact.language
                     else (languages.most_common(1)[0][0] if languages else None)),
        "first_contact": _iso(first, tz), "last_contact": _iso(last, tz),
        "messages_in": sum(t["messages_in"] for t in tickets),
        "messages_out": sum(t["messages_out"] for t in tickets),
        "tickets": tickets,
    }


def render(d: dict[str, Any]) -> str:
    lines = [f"{d['address']}" + (f" ({', '.join(d['names'])})" if d["names"] else ""),
             f"language {d['language'] or '-'}  first contact {d['first_contact'] or '-'}  "
             f"last contact {d['last_contact'] or '-'}",
             f"{len(d['tickets'])} ticket(s), {d['messages_in']} mail(s) from them, "
             f"{d['messages_out']} to them"]
    for t in d["tickets"]:
        lines.append(f"  {t['ref']} {t['state']:<8} {t['role']:<8} in {t['messages_in']} "
                     f"out {t['messages_out']}  {t['subject']}")
    return "\n".join(lines)
