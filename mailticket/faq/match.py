"""Which FAQ entries answer a customer's mail: a BM25 score over analysed terms, tuned
for precision (a wrong suggestion is worse than none).  Pure: entries and the mail come
in as term lists (``mailticket.search.analyzer.terms``), nothing is read or written.

An entry is suggested only when the mail covers enough of its *question* — the share
of the question's weight (IDF) that the mail's terms match, and at least
``min_terms`` distinct question terms — and its score stands clear of the best entry
that was not accepted (``margin``): two close entries mean the mail is ambiguous.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Tuning:
    k1: float = 1.2
    b: float = 0.5
    question_weight: float = 3.0   # a term of the question counts this many times …
    answer_weight: float = 1.0     # … a term of the answer this many
    min_terms: int = 2             # distinct question terms the mail must contain
    min_coverage: float = 0.5      # share of the question's IDF the mail must match
    margin: float = 1.25           # best accepted score ÷ best rejected score, at least
    second_ratio: float = 0.6      # a further suggestion scores at least this × the best


DEFAULT = Tuning()


@dataclass(frozen=True)
class Match:
    entry_id: int
    score: float
    coverage: float
    terms: int
    accepted: bool   # covers enough of the question (``Tuning.min_terms``, ``min_coverage``)


@dataclass
class _Doc:
    """An entry while the index is built."""

    entry_id: int
    question: frozenset[str]
    weights: dict[str, float]      # field-weighted term frequencies
    length: float


class FaqIndex:
    """The published entries of one department and language, analysed once.

    Postings are arrays, not lists of tuples: a daemon keeps an index per department
    and language for good, and the garbage collector never walks arrays of numbers.
    """

    def __init__(self, entries: Iterable[tuple[int, Sequence[str], Sequence[str]]],
                 tuning: Tuning = DEFAULT) -> None:
        """``entries``: (id, question terms, answer terms)."""
        self.tuning = tuning
        docs: list[_Doc] = []
        df: Counter[str] = Counter()
        for entry_id, question, answer in entries:
            weights: dict[str, float] = {}
            for term, n in Counter(question).items():
                weights[term] = weights.get(term, 0.0) + n * tuning.question_weight
            for term, n in Counter(answer).items():
                weights[term] = weights.get(term, 0.0) + n * tuning.answer_weight
            docs.append(_Doc(entry_id, frozenset(question), weights, sum(weights.values())))
            df.update(weights.keys())
        n = len(docs)
        self.idf = {t: math.log(1 + (n - k + 0.5) / (k + 0.5)) for t, k in df.items()}
        avg = (sum(d.length for d in docs) / n) if n else 1.0
        k1, b = tuning.k1, tuning.b
        # Per term, each entry's BM25 share, and the entries whose question holds it: a
        # mail's scores are then sums over its terms' postings, nothing recomputed.
        postings: dict[str, tuple[list[int], list[float]]] = {}
        in_questions: dict[str, list[int]] = {}
        for i, d in enumerate(docs):
            norm = k1 * (1 - b + b * d.length / avg)
            for t, f in d.weights.items():
                ids, shares = postings.setdefault(t, ([], []))
                ids.append(i)
                shares.append(self.idf[t] * f * (k1 + 1) / (f + norm))
            for t in d.question:
                in_questions.setdefault(t, []).append(i)
        self.postings = {t: (array("l", ids), array("d", shares))
                         for t, (ids, shares) in postings.items()}
        self.in_questions = {t: array("l", ids) for t, ids in in_questions.items()}
        self.entry_ids = array("l", (d.entry_id for d in docs))
        self.question_idf = array("d", (sum(self.idf[t] for t in d.question) or 1.0
                                        for d in docs))
        self.need = array("l", (max(1, min(tuning.min_terms, len(d.question))) for d in docs))

    def __len__(self) -> int:
        return len(self.entry_ids)

    def _tally(self, terms: Iterable[str]) -> tuple[list[float], list[float], list[int],
                                                    set[int]]:
        """Per entry: score, matched question IDF, matched question terms; and the
        entries with question terms in the mail (the only ones that can be accepted)."""
        n = len(self.entry_ids)
        score, covered, matched = [0.0] * n, [0.0] * n, [0] * n
        asked: set[int] = set()
        for t in set(terms):
            posting = self.postings.get(t)
            if posting is None:
                continue
            for i, share in zip(*posting, strict=True):
                score[i] += share
            idf = self.idf[t]
            questions = self.in_questions.get(t, ())
            asked.update(questions)
            for i in questions:
                covered[i] += idf
                matched[i] += 1
        return score, covered, matched, asked

    def _match(self, i: int, score: list[float], covered: list[float],
               matched: list[int]) -> Match:
        coverage = covered[i] / self.question_idf[i]
        return Match(self.entry_ids[i], score[i], coverage, matched[i],
                     matched[i] >= self.need[i] and coverage >= self.tuning.min_coverage)

    def scores(self, terms: Iterable[str]) -> list[Match]:
        """Every entry sharing a term with the mail, best first (for tuning and tests)."""
        score, covered, matched, _ = self._tally(terms)
        out = [self._match(i, score, covered, matched) for i in range(len(self.entry_ids))
               if score[i] > 0]
        out.sort(key=lambda m: (-m.score, m.entry_id))
        return out

    def suggest(self, terms: Iterable[str], limit: int) -> list[Match]:
        """Up to ``limit`` entries that answer the mail, best first; often none."""
        if limit <= 0 or not self.entry_ids:
            return []
        score, covered, matched, asked = self._tally(terms)
        need, whole, least = self.need, self.question_idf, self.tuning.min_coverage
        good = {i for i in asked if matched[i] >= need[i] and covered[i] >= least * whole[i]}
        if not good:
            return []
        ranked = sorted((self._match(i, score, covered, matched) for i in good),
                        key=lambda m: (-m.score, m.entry_id))
        for i in good:  # the best score among the entries not accepted, at C speed
            score[i] = 0.0
        rival = max(score)
        best = ranked[0]
        if best.score < self.tuning.margin * rival:
            return []
        return [best, *[m for m in ranked[1:limit]
                        if m.score >= self.tuning.second_ratio * best.score
                        and m.score >= self.tuning.margin * rival]]
