"""FAQ suggestions made ahead, in a parse worker: the matching is the costliest part of a
new ticket's suggestion (about 80 µs a mail with 1,000 entries, numpy calls from a
cold cache), and in the daemon it runs on the one writer thread that bounds the
ingest rate.  A worker has the time while the daemon stores the batch before.

The daemon hands each worker the index it built for a department and language, with
the index's version (``Suggestions.shelf``), and the worker matches every mail whose
language it detected against the index of the department the mail was sent to.  The
daemon takes that answer only when the department, the language and the version are
those of the ticket and of its own current index; otherwise (an entry changed
meanwhile, the language came from what the customer wrote before …) it matches the
mail itself.  So a worker's answer is never staler than the daemon's own.

Pure and free of the database: a worker imports this, the analyzer and the matcher.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mailticket.mail.subject import stored_subject
from mailticket.mail.tokens import base_address
from mailticket.search.analyzer import mail_terms

if TYPE_CHECKING:
    from mailticket.faq.match import FaqIndex


@dataclass(frozen=True)
class Ahead:
    """What a worker found for one mail: the entries to suggest (often none) from the
    index of ``version`` of ``department``'s entries in ``language``."""

    department: str
    language: str
    version: Any
    entry_ids: tuple[int, ...]


@dataclass(frozen=True)
class Offer:
    """An index a daemon hands to its workers, and how many entries it shows."""

    version: Any
    index: FaqIndex
    limit: int


class Shelves:
    """A worker's copies of the daemon's indexes, by department and language."""

    def __init__(self, departments: dict[str, str]) -> None:
        """``departments``: each department's address (lowercased) → its name."""
        self.departments = departments
        self.offers: dict[tuple[str, str], Offer] = {}

    def take(self, offers: dict[tuple[str, str], Offer]) -> None:
        self.offers.update(offers)

    def department(self, recipients: Iterable[str], mailbox: str) -> str:
        """The department a new ticket of this mail goes to, as the pipeline picks it:
        the first department address among To and Cc, else the mailbox's."""
        for address in recipients:
            name = self.departments.get(base_address(address))
            if name is not None:
                return name
        return mailbox

    def suggest(self, recipients: Iterable[str], mailbox: str, language: str | None,
                subject: str, text: str) -> Ahead | None:
        """The suggestion for a mail in ``language`` (detected or named by its header);
        None when there is no language or no index for it."""
        if not language:
            return None
        department = self.department(recipients, mailbox)
        offer = self.offers.get((department, language))
        if offer is None:
            return None
        found = offer.index.suggest(mail_terms(stored_subject(subject), text, language),
                                    offer.limit)
        return Ahead(department, language, offer.version, tuple(m.entry_id for m in found))
