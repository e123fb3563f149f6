"""Which ticket a mail belongs to: the design's four rules, strongest first.

Pure: the database is reached through the small ``Lookups`` protocol, so the
rules are tested with a dictionary and a log line can say which rule decided.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from mailticket.mail.subject import find_tags
from mailticket.mail.tokens import read_token


class Lookups(Protocol):
    def ticket_for_message_ids(self, ids: Sequence[str]) -> int | None:
        """The ticket of the first of these Message-IDs that we stored or sent."""

    def ticket_exists(self, ticket_id: int) -> bool: ...

    def is_participant(self, ticket_id: int, address: str) -> bool: ...


@dataclass(frozen=True)
class Decision:
    ticket_id: int | None
    rule: str      # token | references | subject_tag | new
    reason: str
    # Tokens seen that did not verify: logged, never followed.
    rejected_tokens: tuple[str, ...] = ()

    @property
    def is_new(self) -> bool:
        return self.ticket_id is None


def find_ticket(
    *,
    recipients: Iterable[str],
    in_reply_to: Sequence[str],
    references: Sequence[str],
    subject: str,
    sender: str | None,
    own_addresses: frozenset[str],
    secret: bytes,
    lookups: Lookups,
) -> Decision:
    rejected: list[str] = []

    # 1. A valid token in any recipient address (To, Cc, envelope, Delivered-To).
    for addr in recipients:
        token = read_token(addr, secret)
        if token is None or token[0] not in own_addresses:
            continue
        _, ticket_id, valid = token
        if not valid:
            rejected.append(addr)
        elif lookups.ticket_exists(ticket_id):
            return Decision(ticket_id, "token", f"token address {addr}", tuple(rejected))

    # 2. A Message-ID we stored or sent, newest reference first.
    ids = [*in_reply_to, *reversed(references)]
    if ids:
        by_id = lookups.ticket_for_message_ids(ids)
        if by_id is not None:
            return Decision(by_id, "references", "In-Reply-To/References", tuple(rejected))

    # 3. A subject tag, only for somebody who is already on that ticket.
    if sender:
        for word, ticket_id in find_tags(subject):
            if lookups.ticket_exists(ticket_id) and lookups.is_participant(ticket_id, sender):
                return Decision(
                    ticket_id, "subject_tag", f"[{word} #{ticket_id}] from a participant",
                    tuple(rejected),
                )

    return Decision(None, "new", "no token, reference or tag of a participant", tuple(rejected))


def originals_first(threads: Sequence[tuple[str, Sequence[str]]]) -> list[int]:
    """An order for a batch of mails, given each one's (Message-ID, ids it refers to):
    every mail after the mails of the batch it replies to, otherwise as they came.

    Mailboxes do not promise delivery order; a reply stored before its original would
    open a ticket of its own.  Mails that refer to each other in a circle keep their
    place at the end.
    """
    where = {mid: i for i, (mid, _) in enumerate(threads)}
    waits_for = [{where[r] for r in refs if r in where and where[r] != i}
                 for i, (_, refs) in enumerate(threads)]
    followers: list[list[int]] = [[] for _ in threads]
    for i, before in enumerate(waits_for):
        for j in before:
            followers[j].append(i)
    pending = [len(before) for before in waits_for]
    ready = [i for i, n in enumerate(pending) if n == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for k in followers[i]:
            pending[k] -= 1
            if pending[k] == 0:
                heapq.heappush(ready, k)
    placed = set(order)
    return order + [i for i in range(len(threads)) if i not in placed]
