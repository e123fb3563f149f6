"""What replies do to the FAQ: an agent's ``#faq`` keeps the customer's question with the
answer as a draft entry, and a customer's SOLVED (in their language) after a suggestion
closes the ticket as solved by the FAQ.  The pipeline and agent code call these two."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailticket.actions import change_state
from mailticket.config import DepartmentConfig
from mailticket.faq import entries
from mailticket.faq.exchange import NewEntry
from mailticket.incoming.replies import new_text
from mailticket.store.models import Event
from mailticket.store.records import AnyMessage, AnyTicket
from mailticket.store.writes import Writes

if TYPE_CHECKING:
    from mailticket.outgoing.mailer import Mailer

#: The word for "solved" in each language the auto-response suggests entries in.
SOLVED = {"en": "SOLVED", "fr": "RÉSOLU", "sv": "LÖST", "es": "RESUELTO", "bg": "РЕШЕНО",
          "de": "GELÖST"}


def _fold(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


_WORDS = frozenset(_fold(w) for w in SOLVED.values())
_FIRST_WORD = re.compile(r"^\W*(\w+)(\W|$)")


def says_solved(text: str) -> bool:
    """The first line of the reply starts with one of the SOLVED words, in any case and
    with or without accents ("Résolu, merci !", "lost", "GELOST")."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    m = _FIRST_WORD.match(first)
    return m is not None and _fold(m.group(1)) in _WORDS


def suggested(session: Session, ticket_id: int) -> list[int]:
    """The entries the ticket's auto-response suggested."""
    rows = session.scalars(select(Event.detail).where(
        Event.ticket_id == ticket_id, Event.kind == "faq_suggested"))
    return list(dict.fromkeys(i for detail in rows for i in detail.get("entries", [])))


def close_if_solved(writes: Writes, mailer: Mailer, ticket: AnyTicket,
                    dept: DepartmentConfig, msg: AnyMessage, now: datetime,
                    asked: Callable[[int], list[int]] | None = None) -> bool:
    """A customer's reply that says SOLVED to a ticket whose auto-response suggested FAQ
    entries: closed (no answer awaited), the entries' solved count +1, agents told.
    False, and nothing done, for any other reply: it is a follow-up as usual.
    ``asked``: ``suggested`` for this session, as an ingest batch remembers it."""
    # Cheapest first: which entries were suggested is one indexed query; the SOLVED
    # words in the whole text a scan; cutting the quote off (quotequail) ~10 ms, a third
    # of an import's writer when it ran for every follow-up.
    ids = asked(ticket.id) if asked else suggested(writes.session, ticket.id)
    if not ids or not any(w in _fold(msg.text or "") for w in _WORDS):
        return False
    if not says_solved(new_text(msg.text)):
        return False
    writes.count_faq(ids, "solved")
    writes.event(ticket.id, "solved_by_faq", now, msg.from_addr or "customer", entries=ids,
                 message_id=msg.message_id)
    ticket.updated_at = now
    change_state(writes, ticket, "closed", msg.from_addr or "customer", now)
    mailer.notify_agents(writes, ticket, dept, msg, now, is_new=False, files=[],
                         solved_by_faq=True)
    return True


def _latest_question(ticket: AnyTicket, answer: AnyMessage) -> AnyMessage | None:
    return next((m for m in reversed(ticket.messages)
                 if m is not answer and m.direction == "in" and m.kind == "customer"), None)


def draft_from_answer(writes: Writes, ticket: AnyTicket, dept: DepartmentConfig, agent: str,
                      answer: AnyMessage, body: str, now: datetime) -> None:
    """``#faq``: the customer's latest question (its new text) with the agent's answer
    (commands and quotes already removed) as a draft in the ticket's language."""
    asked = _latest_question(ticket, answer)
    question = new_text(asked.text).strip() if asked is not None else ""
    if not question:
        question = ticket.subject or "?"
    language = ticket.language or dept.language
    entries.add(writes.session, NewEntry(ticket.department, language, question, body,
                                         "draft"), now, agent=agent, ticket=ticket.id)
    writes.event(ticket.id, "faq_drafted", now, agent, language=language,
                 message_id=answer.message_id)
