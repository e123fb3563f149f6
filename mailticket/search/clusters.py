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
it starts one.  A few hundred list look-ups per question, whatever the period; the
weights and each question's key terms are worked out beforehand for the whole period
at once (numpy, terms as numbers), leaving only the order-bound part to Python.

The most common agent answer of a cluster is its draft: the first answer on each of
its tickets, and of those the one most like the others.
"""

from __future__ import annotations

import gc
import math
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from itertools import chain
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
    vocabulary, ids = _encode([terms for _, terms in questions])
    return _cluster_ids(language, [ticket for ticket, _ in questions], ids, vocabulary,
                        first_id, min_size)


def _encode(questions: Sequence[Sequence[str]]) -> tuple[list[str], Any]:
    """Each question's first ``QUESTION_TERMS`` terms as numbers, a row of an array
    padded with -1; and the terms by number.  The numbers follow the terms' sort order,
    so a tie between two equally rare terms goes the same way as between the words."""
    import numpy as np

    heads = [terms[:QUESTION_TERMS] for terms in questions]
    lengths = np.fromiter(map(len, heads), dtype=np.intp, count=len(heads))
    flat = list(chain.from_iterable(heads))
    vocabulary = sorted(set(flat))
    number = dict(zip(vocabulary, range(len(vocabulary)), strict=True))
    width = int(lengths.max()) if len(heads) else 0
    ids = np.full((len(heads), width), -1, dtype=np.intp)
    # Row-major, as ``flat`` runs: each row's first ``length`` places.
    ids[np.arange(width) < lengths[:, None]] = np.fromiter(
        map(number.__getitem__, flat), dtype=np.intp, count=len(flat))
    return vocabulary, ids


def _cluster_ids(language: str | None, tickets: Sequence[int], ids: Any,
                 vocabulary: Sequence[str], first_id: int,
                 min_size: int = 1) -> tuple[list[Cluster], int]:
    """``_cluster_one_language`` over questions encoded by ``_encode`` (rows of ``ids``,
    one per ticket; ``vocabulary`` may hold other groups' terms too)."""
    import numpy as np

    n = len(tickets)
    v = len(vocabulary)
    df = np.bincount(ids[ids >= 0], minlength=v)
    # In a small period every shared word counts; in a large one, the commonest say nothing.
    most = max(2, int(n * MAX_DF_SHARE)) if n >= 50 else n
    by_df = np.full(int(df.max(initial=0)) + 1, -np.inf)
    for k in np.unique(df[(df >= 2) & (df <= most)]).tolist():
        by_df[k] = math.log(1 + n / k)  # math.log, not numpy's: the very same weights
    weight = np.append(by_df[df], -np.inf)  # the last: the padding's -1
    w_all = weight[ids]
    # A question's key terms: the heaviest shared ones, ties to the later term, i.e.
    # its (weight, term) pairs sorted in reverse; terms of no weight last.
    top = np.lexsort((-ids, -w_all), axis=1)[:, :KEY_TERMS]
    key_w = np.take_along_axis(w_all, top, axis=1)
    key_t = np.take_along_axis(ids, top, axis=1)
    key_n = np.count_nonzero(key_w > -np.inf, axis=1).tolist()
    key_w, key_t = key_w.tolist(), key_t.tolist()
    # Plain lists, one slot per term or cluster: the loop below runs once per question
    # of the period (112,000 in 90 days at a million messages), in the order they came.
    # Term → (cluster, the cell of its count of the term), the last POSTINGS_SCAN only.
    postings: list[list[tuple[int, list[int]]] | None] = [None] * v
    members: list[list[int]] = []
    counts: list[dict[int, list[int]]] = []   # term → [members holding it]
    sizes: list[int] = []
    masses: list[float] = []            # Σ IDF × members holding the term
    means: list[float] = []             # masses ÷ sizes, kept as they change
    held: list[float] = []              # the question's weight each cluster holds, or 0
    for ticket, k, ws, ts in zip(tickets, key_n, key_w, key_t, strict=True):
        if not k:
            continue  # nothing it shares with another question: a cluster of one
        if k < len(ws):
            ws, ts = ws[:k], ts[:k]
        total = sum(ws)
        touched: list[int] = []
        for w, t in zip(ws, ts, strict=True):
            posted = postings[t]
            if posted is None:
                continue
            for c, cell in posted:
                h = held[c]
                if not h:
                    touched.append(c)
                held[c] = h + w * cell[0] / sizes[c]
        # The share of the lighter side: a short question may join a wordy cluster.
        best, best_share = -1, 0.0
        for c in touched:
            h = held[c]
            held[c] = 0.0
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
            held.append(0.0)
        members[best].append(ticket)
        sizes[best] += 1
        held_terms = counts[best]
        mass = masses[best]
        for w, t in zip(ws, ts, strict=True):
            cell = held_terms.get(t)
            if cell is None:
                cell = held_terms[t] = [1]
                posted = postings[t]
                if posted is None:
                    postings[t] = [(best, cell)]
                else:
                    posted.append((best, cell))
                    if len(posted) > POSTINGS_SCAN:
                        del posted[0]  # the scan looks at the most recent few only
            else:
                cell[0] += 1
            mass += w
        masses[best] = mass
        means[best] = mass / sizes[best]
    out = [Cluster(first_id + c, language, members[c],
                   Counter({vocabulary[t]: m[0] for t, m in counts[c].items()}), masses[c])
           for c in range(len(sizes)) if sizes[c] >= min_size]
    return out, first_id + len(sizes)


def draft_answer(answers: Sequence[tuple[str, Sequence[str]]]) -> str:
    """Of (text, terms) answers, the one whose terms the others share most; ties go to
    the first (the most recent)."""
    if not answers:
        return ""
    # Agents answer with the same few texts: each distinct pair of term sets is compared
    # once, and every sum still adds the very same ratios in the same order.
    kinds: dict[frozenset[str], int] = {}
    kind = [kinds.setdefault(frozenset(terms), len(kinds)) for _, terms in answers]
    like = [[len(a & b) / (len(a | b) or 1) for b in kinds] for a in kinds]

    def likeness(i: int) -> float:
        row = like[kind[i]]
        return sum(row[k] for j, k in enumerate(kind) if j != i)

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
    from mailticket.store.models import Question as Row

    q = (select(Row.ticket_id, Row.language, Row.terms, Row.department)
         .where(Row.at >= since).order_by(Row.at, Row.ticket_id))
    if until is not None:
        q = q.where(Row.at < until)
    if department is not None:
        q = q.where(Row.department == department)
    with _collector_paused():
        return _candidates(session, q, answered, min_size)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The garbage collector off: the period's questions are a few million objects, none
    in a cycle, that it would otherwise walk again and again (a sixth of the time)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _candidates(session: Session, q: Any, answered: Answered | None,
                min_size: int) -> list[dict[str, Any]]:
    import numpy as np

    from mailticket.store.models import Message, Ticket

    rows = session.connection().execute(q).all()  # Core rows: no ORM work per question
    departments = {tid: dept for tid, _, _, dept in rows}
    # One department's questions are clustered apart from another's, each language apart;
    # the terms are numbered once for all.
    vocabulary, encoded = _encode(list(map(str.split, [text for _, _, text, _ in rows])))
    groups: dict[tuple[str, str | None], list[int]] = {}
    for i, (_, lang, _, dept) in enumerate(rows):
        groups.setdefault((dept, lang), []).append(i)
    found: list[Cluster] = []
    first_id = 0
    for (_, lang), where in groups.items():
        some, first_id = _cluster_ids(lang, [rows[i][0] for i in where],
                                      encoded[np.array(where, dtype=np.intp)], vocabulary,
                                      first_id, max(1, min_size))
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

