"""Every place a person's data is stored, one eraser each, run in order in one transaction.

A ticket in ``scope.wiped`` loses its content (raw mail, texts, subjects, attachments,
names, free text in events) and keeps its number, department, times, kinds, agents,
SLA fields and grades under pseudonyms.  A ticket in ``scope.shared`` (the person was
Cc'd on someone else's ticket) loses the person's own mails, the mails that repeat
their words or files, and their address and name everywhere else.

A new table holding personal data appends ``(name, eraser)`` to ``ERASERS``.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy import String, cast, delete, or_, select, update
from sqlalchemy.orm import Session

from mailticket.customers.redact import (
    PSEUDONYM_DOMAIN,
    Replacer,
    bare_detail,
    is_pseudonym,
    phrases_of,
    quotes,
)
from mailticket.search import index as search_index
from mailticket.sla.waits import forget_days
from mailticket.store.models import (
    Contact,
    Event,
    FaqEntry,
    FeedbackRequest,
    Message,
    Milestone,
    OutboxItem,
    Participant,
    Quarantine,
    Question,
    Ticket,
    Wait,
)

CHUNK = 500


def chunks(ids: Sequence[int], size: int = CHUNK) -> Iterator[Sequence[int]]:
    for i in range(0, len(ids), size):
        yield ids[i:i + size]


@dataclass
class Scope:
    """What one erasure covers; erasers read it and count what they changed."""

    session: Session
    now: datetime
    wiped: list[int]
    replacer: Replacer
    staff: frozenset[str]
    person: str | None = None          # forget: the address; retention: None
    shared: list[int] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    # Message-IDs given up (old → new), so outbox rows follow their messages.
    message_ids: dict[str, str] = field(default_factory=dict)
    wiped_messages: set[int] = field(default_factory=set)

    def keep(self, value: str) -> bool:
        return value.lower() in self.staff or is_pseudonym(value)

    def _own_messages(self, tickets: Sequence[int]) -> list[tuple[int, str]]:
        """(id, text) of what the person wrote on these tickets, or on none."""
        if self.person is None:
            return []
        where = [Message.ticket_id.is_(None)]
        where += [Message.ticket_id.in_(ids) for ids in chunks(tickets)]
        rows = self.session.execute(select(Message.id, Message.text)
                                    .where(Message.from_addr == self.person, or_(*where)))
        return [(int(i), t or "") for i, t in rows]

    @cached_property
    def phrases(self) -> set[str]:
        """Lines they wrote anywhere, to find quoted in other people's mail."""
        return phrases_of(t for _, t in self._own_messages(self.wiped + self.shared))

    @cached_property
    def file_hashes(self) -> set[str]:
        """Their files on the shared tickets, where other mails may forward them (on
        their own tickets every mail is emptied anyway)."""
        from mailticket.incoming.parse import parse

        hashes: set[str] = set()
        for mid, _ in self._own_messages(self.shared):
            raw = self.session.scalar(select(Message.raw).where(Message.id == mid)) or b""
            for a in parse(raw).attachments if raw else []:
                if a.data:
                    hashes.add(hashlib.sha256(a.data).hexdigest())
        return hashes


Eraser = Callable[[Scope], None]


def _erased_id(mid: int) -> str:
    return f"<erased-{mid}-{hashlib.sha256(str(mid).encode()).hexdigest()[:8]}@{PSEUDONYM_DOMAIN}>"


def _wipe_rows(scope: Scope, rows: Sequence[Any]) -> None:
    """Empty these messages (rows of id, message_id, from_addr, to, cc)."""
    r = scope.replacer
    changes = []
    for mid, message_id, from_addr, to, cc in rows:
        new_id = _erased_id(int(mid))
        scope.message_ids[message_id] = new_id
        scope.wiped_messages.add(int(mid))
        changes.append({
            "id": mid, "message_id": new_id, "raw": b"", "text": "", "subject": "",
            "attachments": [], "from_name": "", "from_addr": r.address(from_addr),
            "to": r.addresses(to or []), "cc": r.addresses(cc or []), "in_reply_to": None,
            "references": [], "fingerprint": None, "verdict": "", "source": "",
        })
    if changes:
        scope.session.execute(update(Message), changes)
    scope.counts["messages"] += len(changes)


_HEAD = (Message.id, Message.message_id, Message.from_addr, Message.to, Message.cc)


def erase_messages(scope: Scope) -> None:
    s = scope.session
    if scope.shared:
        _ = scope.phrases, scope.file_hashes  # read before anything is emptied
    for ids in chunks(scope.wiped):
        _wipe_rows(scope, s.execute(select(*_HEAD).where(Message.ticket_id.in_(ids))).all())
    if scope.person is None:
        return
    _wipe_rows(scope, s.execute(select(*_HEAD).where(
        Message.ticket_id.is_(None), Message.from_addr == scope.person)).all())
    for ids in chunks(scope.shared):
        for row in s.execute(select(*_HEAD).where(Message.ticket_id.in_(ids))).all():
            if row.from_addr == scope.person or _repeats_person(scope, int(row.id)):
                _wipe_rows(scope, [row])
            else:
                _redact_message(scope, int(row.id))


def _repeats_person(scope: Scope, mid: int) -> bool:
    """Whether someone else's mail quotes the person's words or carries their files
    (an agent's answer quoting them, a notification forwarding their attachment)."""
    from mailticket.incoming.parse import parse

    raw = scope.session.scalar(select(Message.raw).where(Message.id == mid)) or b""
    mail = parse(raw)
    text = "\n".join(x for x in (mail.text, mail.html) if x)
    if scope.phrases and quotes(text, scope.phrases):
        return True
    return any(a.data and hashlib.sha256(a.data).hexdigest() in scope.file_hashes
               for a in mail.attachments)


def _redact_message(scope: Scope, mid: int) -> None:
    s, r = scope.session, scope.replacer
    m = s.get(Message, mid)
    assert m is not None
    raw = m.raw
    if r.mentions(raw) or r.mentions(m.text) or r.mentions(m.subject) or r.mentions(m.from_name):
        m.raw, m.text, m.subject = r.raw(raw), r.text(m.text), r.text(m.subject)
        m.from_name = r.text(m.from_name)
        scope.counts["messages_redacted"] += 1
    m.to, m.cc = r.addresses(m.to), r.addresses(m.cc)


def erase_tickets(scope: Scope) -> None:
    s, r = scope.session, scope.replacer
    for ids in chunks(scope.wiped):
        rows = s.execute(select(Ticket.id, Ticket.customer).where(Ticket.id.in_(ids))).all()
        s.execute(update(Ticket), [{"id": i, "customer": r.address(c), "customer_name": "",
                                    "subject": ""} for i, c in rows])
    scope.counts["tickets"] += len(scope.wiped)
    for ids in chunks(scope.shared):
        for t in s.scalars(select(Ticket).where(Ticket.id.in_(ids))):
            t.subject, t.customer_name = r.text(t.subject), r.text(t.customer_name)


def erase_participants(scope: Scope) -> None:
    s, r = scope.session, scope.replacer
    for ids in chunks(scope.wiped):
        rows = s.execute(select(Participant.id, Participant.address)
                         .where(Participant.ticket_id.in_(ids))).all()
        s.execute(update(Participant), [{"id": i, "address": r.address(a), "name": ""}
                                        for i, a in rows if r.address(a) != a])
    if scope.person and scope.shared:
        for ids in chunks(scope.shared):
            s.execute(delete(Participant).where(Participant.ticket_id.in_(ids),
                                                Participant.address == scope.person))


def erase_events(scope: Scope) -> None:
    s, r = scope.session, scope.replacer
    for ids in chunks(scope.wiped):
        rows = s.execute(select(Event.id, Event.actor, Event.detail)
                         .where(Event.ticket_id.in_(ids))).all()
        changes = []
        for i, actor, detail in rows:
            new = bare_detail(r.json(detail or {}), scope.keep)
            if r.address(actor) != actor or new != detail:
                changes.append({"id": i, "actor": r.address(actor), "detail": new})
        if changes:
            s.execute(update(Event), changes)
        scope.counts["events"] += len(changes)
    if scope.person is None:
        return
    mentions = or_(Event.actor == scope.person,
                   cast(Event.detail, String).ilike(f"%{scope.person}%"))
    where = [Event.ticket_id.is_(None)] + [Event.ticket_id.in_(ids)
                                           for ids in chunks(scope.shared)]
    for e in s.scalars(select(Event).where(or_(*where), mentions)):
        e.actor, e.detail = r.address(e.actor), r.json(e.detail)
        scope.counts["events"] += 1


def erase_waits(scope: Scope) -> None:
    """The report's tables hold ids, instants, languages and the agents of answers, as
    the events do: an agent's address that the events give up goes here too."""
    s, r = scope.session, scope.replacer
    for ids in chunks(scope.wiped + scope.shared):
        for model, column in ((Wait, Wait.stopped_by), (Milestone, Milestone.agent)):
            rows = s.execute(select(model.id, column).where(
                model.ticket_id.in_(ids), column.is_not(None))).all()
            changes = [{"id": i, column.key: r.address(a)} for i, a in rows
                       if a is not None and r.address(a) != a]
            if changes:
                s.execute(update(model), changes)
                scope.counts["waits"] += len(changes)
                if model is Wait:  # the report's stored days hold agents' addresses too
                    forget_days(s.connection(), s.execute(
                        select(Wait.department, Wait.day)
                        .where(Wait.id.in_([c["id"] for c in changes])).distinct()).all())


def erase_outbox(scope: Scope) -> None:
    s, r = scope.session, scope.replacer
    where: list[Any] = [OutboxItem.ticket_id.in_(ids)
                        for ids in chunks(scope.wiped + scope.shared)]
    if scope.person:
        where.append(OutboxItem.ticket_id.is_(None)
                     & cast(OutboxItem.rcpt_to, String).ilike(f"%{scope.person}%"))
    if not where:
        return
    for item in s.scalars(select(OutboxItem).where(or_(*where))):
        item.rcpt_to = r.addresses(item.rcpt_to)
        if item.message_id in scope.message_ids:
            item.message_id = scope.message_ids[item.message_id]
            if item.sent_at is None and item.failed_at is None:
                # Its bytes are gone: never send an empty mail, nor the person's words.
                item.failed_at, item.last_error = scope.now, "erased before it was sent"
                scope.counts["outbox_cancelled"] += 1
        scope.counts["outbox"] += 1


def erase_feedback(scope: Scope) -> None:
    s = scope.session
    for ids in chunks(scope.wiped):
        s.execute(update(FeedbackRequest).where(FeedbackRequest.ticket_id.in_(ids))
                  .values(comment=None))
        s.execute(update(FeedbackRequest).where(FeedbackRequest.ticket_id.in_(ids),
                                                FeedbackRequest.state == "waiting")
                  .values(state="cancelled"))


def erase_contacts(scope: Scope) -> None:
    if scope.person:
        scope.session.execute(delete(Contact).where(Contact.address == scope.person))


def erase_quarantine(scope: Scope) -> None:
    """Mail that could not be processed but came from, or names, the person."""
    if scope.person is None:
        return
    s = scope.session
    ids = [i for i, raw in s.execute(select(Quarantine.id, Quarantine.raw))
           if scope.replacer.mentions(raw)]
    if ids:
        s.execute(delete(Quarantine).where(Quarantine.id.in_(ids)))
    scope.counts["quarantine"] += len(ids)


def erase_search(scope: Scope) -> None:
    """The full-text index of their mails and the questions ``faq candidates`` clusters.
    First: the index forgets a mail by the text it indexed, before that text goes."""
    s = scope.session
    ids = [int(i) for chunk in chunks(scope.wiped)
           for i in s.scalars(select(Message.id).where(Message.ticket_id.in_(chunk)))]
    ids += [mid for mid, _ in scope._own_messages(scope.shared)]
    search_index.forget_messages(s.connection(), sorted(set(ids)))
    for chunk in chunks(scope.wiped):
        s.execute(delete(Question).where(Question.ticket_id.in_(chunk)))
    scope.counts["search"] += len(ids)


def erase_faq_drafts(scope: Scope) -> None:
    """Drafts an agent's ``#faq`` made from their mail: every draft of their own tickets,
    and on tickets they shared, the drafts that hold their words or their address.  (A
    published entry is the shop's text, written or edited by an admin: it stays.)"""
    s = scope.session
    for chunk in chunks(scope.wiped):
        gone = s.execute(delete(FaqEntry).where(FaqEntry.origin_ticket.in_(chunk),
                                                FaqEntry.state == "draft"))
        scope.counts["faq_drafts"] += gone.rowcount  # type: ignore[attr-defined]
    for chunk in chunks(scope.shared):
        for entry in s.scalars(select(FaqEntry).where(FaqEntry.origin_ticket.in_(chunk),
                                                      FaqEntry.state == "draft")):
            text = f"{entry.question}\n{entry.answer}"
            folded = " ".join(text.split()).casefold()
            if scope.replacer.mentions(text) or any(p in folded for p in scope.phrases):
                s.delete(entry)
                scope.counts["faq_drafts"] += 1


#: Where a person's data lives, in the order erased (messages first: the others follow
#: the Message-IDs it gives up).
ERASERS: list[tuple[str, Eraser]] = [
    ("search", erase_search),
    ("messages", erase_messages),
    ("tickets", erase_tickets),
    ("participants", erase_participants),
    ("events", erase_events),
    ("waits", erase_waits),
    ("outbox", erase_outbox),
    ("feedback", erase_feedback),
    ("contacts", erase_contacts),
    ("quarantine", erase_quarantine),
    ("faq_drafts", erase_faq_drafts),
]
