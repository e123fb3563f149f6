"""What customers keep asking: the period's questions clustered online, largest first.

Each ticket's question (its first customer mail, kept as distinct terms in
``questions`` by the search index) joins the nearest cluster or starts one, in the
order the questions came; no pair of questions is ever compared.  A question is known
by the terms at least two questions of the period share (a word nobody else wrote
cannot bring two questions together), each weighed by its IDF in the period.
Clusters are found through an inverted index of their members' terms (term → the
clusters that hold it, the most recent few looked at), and scored by the share of the
question's weight the cluster holds, each term counted by the share of the cluster's
members that have it.  A question reaching ``JOIN`` joins the best cluster; otherwise
it starts one.  A few hundred dictionary look-ups per question, whatever the period.

The most common agent answer of a cluster is its draft: the first answer on each of
its tickets, and of those the one most like the others.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

QUESTION_TERMS = 30    # a question's first distinct terms: the question is near the top
KEY_TERMS = 8          # of those, the rarest that another question shares stand for it
JOIN = 0.5             # share of the question's (or cluster's) weight both must hold
POSTINGS_SCAN = 8      # clusters looked at per term: the most recent ones
MAX_DF_SHARE = 0.2     # a term in more than this share of questions says nothing
EXAMPLES = 5           # example subjects per cluster
ANSWERS = 20           # agent answers read per cluster (its latest tickets') for the draft
_CHUNK = 500


@dataclass
class Cluster:
    id: int
    language: str | None
    members: list[int] = field(default_factory=list)            # ticket numbers
    counts: Counter[str] = field(default_factory=Counter)       # term → members
    weight: float = 0.0    # Σ IDF × members holding the term: its mass is this ÷ size


@dataclass(frozen=True)
class Question:
    ticket: int
    language: str | None
    terms: Sequence[str]


#: Whether a published FAQ entry answers a cluster: (department, language, the key
#: terms of the cluster, most common first) → bool.
Answered = Callable[[str | None, str | None, list[str]], bool]


def cluster(questions: Sequence[Question], min_size: int = 1) -> list[Cluster]:
    """Online clustering, per language, in the order given (the order they came); only
    the clusters of at least ``min_size`` questions are returned."""
    by_language: dict[str | None, list[tuple[int, Sequence[str]]]] = {}
    for q in questions:
        by_language.setdefault(q.language, []).append((q.ticket, q.terms))
    out: list[Cluster] = []
    first_id = 0
    for language, group in by_language.items():
        found, first_id = _cluster_one_language(language, group, first_id, min_size)
        out += found
    return out


def _cluster_one_language(language: str | None, questions: Sequence[tuple[int, Sequence[str]]],
                          first_id: int, min_size: int = 1) -> tuple[list[Cluster], int]:
    """The clusters of (ticket, terms) questions of one language, of ``min_size`` or
    more, numbered from ``first_id``; and the next free number."""
    df: Counter[str] = Counter()
    for _, question in questions:
        df.update(question[:QUESTION_TERMS])
    n = len(questions)
    # In a small period every shared word counts; in a large one, the commonest say nothing.
    most = max(2, int(n * MAX_DF_SHARE)) if n >= 50 else n
    idf = {t: math.log(1 + n / k) for t, k in df.items() if 2 <= k <= most}
    postings: dict[str, list[int]] = {}
    # Plain lists, one slot per cluster: the loop below runs once per question of the
    # period (100,000 in 90 days at a million messages), so it does no more than it must.
    members: list[list[int]] = []
    counts: list[dict[str, int]] = []   # term → members holding it
    sizes: list[int] = []
    masses: list[float] = []            # Σ IDF × members holding the term
    means: list[float] = []             # masses ÷ sizes, kept as they change
    get_idf = idf.get
    get_postings = postings.get
    for ticket, question in questions:
        weighed = [(w, t) for t in question[:QUESTION_TERMS] if (w := get_idf(t)) is not None]
        if not weighed:
            continue  # nothing it shares with another question: a cluster of one
        weighed.sort(reverse=True)
        keys = weighed[:KEY_TERMS]
        total = sum([w for w, _ in keys])
        held: dict[int, float] = {}
        for w, t in keys:
            posted = get_postings(t)
            if posted is None:
                continue
            for c in posted[-POSTINGS_SCAN:]:
                held[c] = held.get(c, 0.0) + w * counts[c][t] / sizes[c]
        # The share of the lighter side: a short question may join a wordy cluster.
        best, best_share = -1, 0.0
        for c, h in held.items():
            mean = means[c]
            share = h / (total if total <= mean else mean)
            if share > best_share or (share == best_share and c > best):
                best, best_share = c, share
        if best < 0 or best_share < JOIN:
            best = len(sizes)
            members.append([])
            counts.append({})
            sizes.append(0)
            masses.append(0.0)
            means.append(0.0)
        members[best].append(ticket)
        sizes[best] += 1
        held_terms = counts[best]
        mass = masses[best]
        for w, t in keys:
            if t not in held_terms:
                postings.setdefault(t, []).append(best)
                held_terms[t] = 1
            else:
                held_terms[t] += 1
            mass += w
        masses[best] = mass
        means[best] = mass / sizes[best]
    out = [Cluster(first_id + c, language, members[c], Counter(counts[c]), masses[c])
           for c in range(len(sizes)) if sizes[c] >= min_size]
    return out, first_id + len(sizes)


def draft_answer(answers: Sequence[tuple[str, Sequence[str]]]) -> str:
    """Of (text, terms) answers, the one whose terms the others share most; ties go to
    the first (the most recent)."""
    if not answers:
        return ""
    sets = [set(terms) for _, terms in answers]

    def likeness(i: int) -> float:
        return sum(len(sets[i] & s) / (len(sets[i] | s) or 1)
                   for j, s in enumerate(sets) if j != i)

    best = max(range(len(answers)), key=lambda i: (likeness(i), -i))
    return answers[best][0]


@lru_cache(maxsize=4096)  # agents answer with the same few texts
def _analysed(text: str, language: str | None) -> tuple[str, ...]:
    from mailticket.search.analyzer import terms

    return tuple(terms(text, language))


# -- the edge: the period's questions in, the clusters as the CLI shows them out -------

def candidates(session: Session, config: Any, department: str | None, since: datetime,
               min_size: int, *, until: datetime | None = None,
               answered: Answered | None = None) -> list[dict[str, Any]]:
    """Clusters of at least ``min_size`` similar questions asked since ``since``, that no
    published FAQ entry answers (``answered``), largest first: ``size``, ``language``,
    ``department``, ``subjects`` (examples), ``tickets``, ``draft_answer``."""
    from mailticket.store.models import Message, Ticket
    from mailticket.store.models import Question as Row

    q = (select(Row.ticket_id, Row.language, Row.terms, Row.department)
         .where(Row.at >= since).order_by(Row.at, Row.ticket_id))
    if until is not None:
        q = q.where(Row.at < until)
    if department is not None:
        q = q.where(Row.department == department)
    rows = session.connection().execute(q).all()  # Core rows: no ORM work per question
    departments = {tid: dept for tid, _, _, dept in rows}
    # One department's questions are clustered apart from another's, each language apart.
    groups: dict[tuple[str, str | None], list[tuple[int, Sequence[str]]]] = {}
    for ticket, lang, text, dept in rows:
        groups.setdefault((dept, lang), []).append((ticket, text.split()))
    found: list[Cluster] = []
    first_id = 0
    for (_, lang), group in groups.items():
        some, first_id = _cluster_one_language(lang, group, first_id, max(1, min_size))
        found += some
    big = sorted(found, key=lambda c: (-len(c.members), c.members[0]))
    shown = []
    for c in big:
        keys = [t for t, _ in c.counts.most_common()]
        if answered is None or not answered(departments[c.members[0]], c.language, keys):
            shown.append(c)
    # The examples and answers of every shown cluster in a few queries: its latest tickets.
    latest = {c.id: sorted(c.members)[-ANSWERS:] for c in shown}
    wanted = sorted({t for ids in latest.values() for t in ids})
    subject_of: dict[int, str] = {}
    first_answer: dict[int, str] = {}
    for i in range(0, len(wanted), _CHUNK):
        chunk = wanted[i:i + _CHUNK]
        subject_of.update((int(tid), subject) for tid, subject in session.execute(
            select(Ticket.id, Ticket.subject).where(Ticket.id.in_(chunk))))
        for tid, text in session.execute(
                select(Message.ticket_id, Message.text)
                .where(Message.ticket_id.in_(chunk), Message.kind == "agent")
                .order_by(Message.id)):
            if text and tid is not None and tid not in first_answer:
                first_answer[tid] = text
    out = []
    for c in shown:
        ids = latest[c.id][::-1]  # newest first
        subjects = list(dict.fromkeys(subject_of[t] for t in ids if t in subject_of))
        answers = [(first_answer[t], _analysed(first_answer[t], c.language))
                   for t in ids if t in first_answer]
        out.append({"size": len(c.members), "language": c.language,
                    "department": departments[c.members[0]],
                    "subjects": subjects[:EXAMPLES], "tickets": sorted(c.members),
                    "draft_answer": draft_answer(answers)})
    return out

