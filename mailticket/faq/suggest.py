"""FAQ suggestions for a new ticket's auto-response: the matcher's index per department
and language, kept in memory and rebuilt when that department's published entries in
that language change (one small aggregate query per auto-response tells).  Each index
built is offered to the parse workers, which then match new mail ahead (``ahead``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from mailticket.faq import entries
from mailticket.faq.ahead import Ahead, Offer
from mailticket.faq.match import DEFAULT, FaqIndex, Tuning
from mailticket.search.analyzer import mail_terms, terms
from mailticket.store.writes import Writes

# Seconds an index is used before the database is asked whether entries changed: an
# admin's `faq add` reaches a running daemon's auto-responses within this.
FRESH = 1.0


@dataclass(frozen=True)
class Suggestion:
    entry_id: int
    question: str
    answer: str


@dataclass(frozen=True)
class Shelf:
    """One department's published entries in one language, analysed."""

    index: FaqIndex
    texts: dict[int, tuple[str, str]]
    version: Any = None  # of the entries it holds (``entries.versions``)

    @classmethod
    def build(cls, rows: Sequence[tuple[int, str, str]], language: str,
              tuning: Tuning = DEFAULT, token: Callable[[str], str] | None = None,
              version: Any = None) -> Shelf:
        """``token``: the entries' terms as another index stores them (the clusters'
        questions hold stored tokens, keyed hashes when the store is encrypted)."""
        def analysed(text: str) -> list[str]:
            found = terms(text, language)
            return [token(t) for t in found] if token else found

        index = FaqIndex(((i, analysed(q), analysed(a)) for i, q, a in rows), tuning)
        return cls(index, {i: (q, a) for i, q, a in rows}, version)

    def suggest(self, text: str, language: str, limit: int) -> list[Suggestion]:
        return self.suggest_terms(terms(text, language), limit)

    def suggest_terms(self, mail: Sequence[str], limit: int) -> list[Suggestion]:
        """``suggest`` for a mail already analysed (``search.index.mail_terms``)."""
        return [Suggestion(m.entry_id, *self.texts[m.entry_id])
                for m in self.index.suggest(mail, limit)]


class Suggestions:
    """What a Mailer asks for an auto-response, and hands on to the agents' notification
    of the same ticket (``shown``)."""

    def __init__(self, limit: int, tuning: Tuning = DEFAULT,
                 token: Callable[[str], str] | None = None) -> None:
        self.limit, self.tuning, self.token = limit, tuning, token
        # (department, language) → (when checked, version, shelf)
        self._shelves: dict[tuple[str, str], tuple[float, tuple[int, Any], Shelf]] = {}
        # department → (when asked, the versions of its languages): one query a second
        # per department, not one per language.
        self._versions: dict[str, tuple[float, dict[str, tuple[int, Any]]]] = {}
        self._shown: dict[int, list[Suggestion]] = {}
        self._lock = threading.Lock()  # the daemon's mailbox threads share one Mailer
        # Where each index built goes, to be matched against ahead: the parse workers.
        self.offer: Callable[[str, str, Offer], None] | None = None

    def shelf(self, session: Session, department: str, language: str) -> Shelf:
        """The index, asked whether it is stale at most once per ``FRESH`` seconds (a
        busy daemon would otherwise ask for every mail)."""
        key = (department, language)
        with self._lock:
            cached = self._shelves.get(key)
        now = time.monotonic()
        if cached is not None and now - cached[0] < FRESH:
            return cached[2]
        # Stamped with when the version was read, so no shelf is used more than FRESH
        # seconds after the database last said it was current.
        now, version = self._version(session, department, language, now)
        if cached is not None and cached[1] == version:
            with self._lock:
                self._shelves[key] = (now, version, cached[2])
            return cached[2]
        shelf = Shelf.build(entries.published(session, department, language), language,
                            self.tuning, self.token, version)
        with self._lock:
            self._shelves[key] = (now, version, shelf)
        if self.offer is not None and self.limit > 0 and len(shelf.index):
            self.offer(department, language, Offer(version, shelf.index, self.limit))
        return shelf

    def _version(self, session: Session, department: str, language: str,
                 now: float) -> tuple[float, tuple[int, Any]]:
        """(when it was read, the version of the department's entries in ``language``)."""
        with self._lock:
            asked = self._versions.get(department)
        if asked is None or now - asked[0] >= FRESH:
            asked = (now, entries.versions(session, department))
            with self._lock:
                self._versions[department] = asked
        return asked[0], asked[1].get(language, (0, None))

    def for_new_ticket(self, writes: Writes, ticket_id: int, department: str,
                       language: str | None, text: str, now: datetime, *,
                       subject: str = "", ahead: Ahead | None = None) -> list[Suggestion]:
        """The entries to show under the promise for a mail's ``subject`` and ``text``;
        counted and recorded as suggested.  A parse worker's match (``ahead``) is taken
        when it was made for this department and language by the current index;
        otherwise the mail is analysed as the search index analyses it, once for both
        (``mail_terms``), and matched here."""
        if self.limit <= 0 or not language:
            return []
        session = writes.session
        shelf = self.shelf(session, department, language)
        if not len(shelf.index):
            return []
        if ahead is not None and (ahead.department, ahead.language, ahead.version) == (
                department, language, shelf.version):
            found = [Suggestion(i, *shelf.texts[i]) for i in ahead.entry_ids]
        else:
            found = shelf.suggest_terms(mail_terms(subject, text, language), self.limit)
        if found:
            ids = [s.entry_id for s in found]
            writes.count_faq(ids, "suggested")
            writes.event(ticket_id, "faq_suggested", now, entries=ids)
            with self._lock:
                if len(self._shown) > 1000:  # a notification that never came: forget
                    self._shown.clear()
                self._shown[ticket_id] = found
        return found

    def shown(self, ticket_id: int) -> list[Suggestion]:
        """What the auto-response of this ticket suggested, once (for the notification)."""
        with self._lock:
            return self._shown.pop(ticket_id, [])


# A cluster of questions is answered when an entry matches its most common terms.
CLUSTER_TERMS = 15


def answered_by_entries(session: Session) -> Callable[[str | None, str | None, list[str]],
                                                       bool]:
    """For ``faq candidates``: whether a published entry of the department in the
    cluster's language answers it, by the auto-response's own matcher."""
    from mailticket.search.index import stored_token

    shelves = Suggestions(1, token=stored_token)  # the clusters' keys are stored tokens

    def answered(department: str | None, language: str | None, keys: list[str]) -> bool:
        if not department or not language:
            return False
        shelf = shelves.shelf(session, department, language)
        return bool(shelf.index.suggest(keys[:CLUSTER_TERMS], 1))

    return answered
