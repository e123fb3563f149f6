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
    entry_id: int
    question: frozenset[str]
    weights: dict[str, float]      # field-weighted term frequencies
    length: float


class FaqIndex:
    """The published entries of one department and language, analysed once."""

    def __init__(self, entries: Iterable[tuple[int, Sequence[str], Sequence[str]]],
                 tuning: Tuning = DEFAULT) -> None:
        """``entries``: (id, question terms, answer terms)."""
        self.tuning = tuning
        self.docs: list[_Doc] = []
        df: Counter[str] = Counter()
        for entry_id, question, answer in entries:
            weights: dict[str, float] = {}
            for term, n in Counter(question).items():
                weights[term] = weights.get(term, 0.0) + n * tuning.question_weight
            for term, n in Counter(answer).items():
                weights[term] = weights.get(term, 0.0) + n * tuning.answer_weight
            self.docs.append(_Doc(entry_id, frozenset(question), weights,
                                  sum(weights.values())))
            df.update(weights.keys())
        n = len(self.docs)
        self.idf = {t: math.log(1 + (n - k + 0.5) / (k + 0.5)) for t, k in df.items()}
        self.avg_length = (sum(d.length for d in self.docs) / n) if n else 1.0
        self.postings: dict[str, list[int]] = {}
        for i, d in enumerate(self.docs):
            for t in d.weights:
                self.postings.setdefault(t, []).append(i)

    def __len__(self) -> int:
        return len(self.docs)

    def scores(self, terms: Iterable[str]) -> list[Match]:
        """Every entry sharing a term with the mail, best first (for tuning and tests)."""
        k1, b = self.tuning.k1, self.tuning.b
        query = set(terms)
        score: dict[int, float] = {}
        covered: dict[int, float] = {}
        matched: Counter[int] = Counter()
        for t in query:
            idf = self.idf.get(t)
            if idf is None:
                continue
            for i in self.postings[t]:
                d = self.docs[i]
                f = d.weights[t]
                norm = k1 * (1 - b + b * d.length / self.avg_length)
                score[i] = score.get(i, 0.0) + idf * f * (k1 + 1) / (f + norm)
                if t in d.question:
                    covered[i] = covered.get(i, 0.0) + idf
                    matched[i] += 1
        out = []
        for i, s in score.items():
            d = self.docs[i]
            total = sum(self.idf[t] for t in d.question) or 1.0
            coverage = covered.get(i, 0.0) / total
            need = max(1, min(self.tuning.min_terms, len(d.question)))
            out.append(Match(d.entry_id, s, coverage, matched[i],
                             matched[i] >= need and coverage >= self.tuning.min_coverage))
        out.sort(key=lambda m: (-m.score, m.entry_id))
        return out

    def suggest(self, terms: Iterable[str], limit: int) -> list[Match]:
        """Up to ``limit`` entries that answer the mail, best first; often none."""
        if limit <= 0 or not self.docs:
            return []
        ranked = self.scores(terms)
        good = [m for m in ranked if m.accepted]
        if not good:
            return []
        best = good[0]
        rival = next((m.score for m in ranked if not m.accepted), 0.0)
        if best.score < self.tuning.margin * rival:
            return []
        return [best, *[m for m in good[1:limit]
                        if m.score >= self.tuning.second_ratio * best.score
                        and m.score >= self.tuning.margin * rival]]
