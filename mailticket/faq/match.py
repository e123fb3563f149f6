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
        avg = (sum(d.length for d in self.docs) / n) if n else 1.0
        k1, b = tuning.k1, tuning.b
        # Per term, each entry's BM25 share and whether the term is in its question:
        # a mail's score is then sums over its terms' postings, nothing recomputed.
        self.postings: dict[str, list[tuple[int, float, bool]]] = {}
        for i, d in enumerate(self.docs):
            norm = k1 * (1 - b + b * d.length / avg)
            for t, f in d.weights.items():
                share = self.idf[t] * f * (k1 + 1) / (f + norm)
                self.postings.setdefault(t, []).append((i, share, t in d.question))
        self.question_idf = [sum(self.idf[t] for t in d.question) or 1.0 for d in self.docs]
        self.need = [max(1, min(tuning.min_terms, len(d.question))) for d in self.docs]

    def __len__(self) -> int:
        return len(self.docs)

    def _tally(self, terms: Iterable[str]
               ) -> tuple[dict[int, float], dict[int, float], dict[int, int]]:
        score: dict[int, float] = {}
        covered: dict[int, float] = {}
        matched: dict[int, int] = {}
        for t in set(terms):
            posting = self.postings.get(t)
            if posting is None:
                continue
            idf = self.idf[t]
            for i, share, in_question in posting:
                score[i] = score.get(i, 0.0) + share
                if in_question:
                    covered[i] = covered.get(i, 0.0) + idf
                    matched[i] = matched.get(i, 0) + 1
        return score, covered, matched

    def _match(self, i: int, score: float, covered: dict[int, float],
               matched: dict[int, int]) -> Match:
        coverage = covered.get(i, 0.0) / self.question_idf[i]
        terms = matched.get(i, 0)
        return Match(self.docs[i].entry_id, score, coverage, terms,
                     terms >= self.need[i] and coverage >= self.tuning.min_coverage)

    def scores(self, terms: Iterable[str]) -> list[Match]:
        """Every entry sharing a term with the mail, best first (for tuning and tests)."""
        score, covered, matched = self._tally(terms)
        out = [self._match(i, s, covered, matched) for i, s in score.items()]
        out.sort(key=lambda m: (-m.score, m.entry_id))
        return out

    def suggest(self, terms: Iterable[str], limit: int) -> list[Match]:
        """Up to ``limit`` entries that answer the mail, best first; often none."""
        if limit <= 0 or not self.docs:
            return []
        score, covered, matched = self._tally(terms)
        # Only an entry with question terms in the mail can be accepted.
        candidates = [self._match(i, score[i], covered, matched) for i in covered]
        good = sorted((m for m in candidates if m.accepted),
                      key=lambda m: (-m.score, m.entry_id))
        if not good:
            return []
        accepted = {m.entry_id for m in good}
        rival = max((s for i, s in score.items() if self.docs[i].entry_id not in accepted),
                    default=0.0)
        best = good[0]
        if best.score < self.tuning.margin * rival:
            return []
        return [best, *[m for m in good[1:limit]
                        if m.score >= self.tuning.second_ratio * best.score
                        and m.score >= self.tuning.margin * rival]]
