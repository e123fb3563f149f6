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
from typing import Any


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

    Postings are numpy arrays: a mail's scores, question IDF and question terms over
    1,000 entries are then ``bincount`` calls over its terms' postings, not a Python
    loop per posting (1.6 ms → 0.03 ms a mail), and the garbage collector never walks
    them.
    """

    def __init__(self, entries: Iterable[tuple[int, Sequence[str], Sequence[str]]],
                 tuning: Tuning = DEFAULT) -> None:
        """``entries``: (id, question terms, answer terms)."""
        self.tuning = tuning
        entries = list(entries)
        if not entries:  # a department or language without entries: numpy stays out
            self.entry_ids: list[int] = []
            self.postings: dict[str, tuple[Any, Any]] = {}
            return
        import numpy as np  # here: only an installation with FAQ entries loads it

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
        idf = {t: math.log(1 + (n - k + 0.5) / (k + 0.5)) for t, k in df.items()}
        # Entries of stop words only weigh nothing: 1.0 then, not a division by zero.
        avg = (sum(d.length for d in docs) / n) or 1.0
        k1, b = tuning.k1, tuning.b
        # Per term, each entry's BM25 share, and the entries whose question holds it: a
        # mail's scores are then sums over its terms' postings, nothing recomputed.
        postings: dict[str, tuple[list[int], list[float]]] = {}
        in_questions: dict[str, set[int]] = {}
        for i, d in enumerate(docs):
            norm = k1 * (1 - b + b * d.length / avg)
            for t, f in d.weights.items():
                ids, shares = postings.setdefault(t, ([], []))
                ids.append(i)
                shares.append(idf[t] * f * (k1 + 1) / (f + norm))
            for t in d.question:
                in_questions.setdefault(t, set()).add(i)
        # Every term's postings one after the other in two arrays (the entries; per
        # entry its BM25 share, the term's IDF if the entry's question holds it, else 0,
        # and 1 if it does, else 0, as three rows), each term's a slice of them: a
        # mail's three tallies are one concatenation of its terms' slices.  Two arrays,
        # not two per term: what a parse worker is sent is their bytes (``__getstate__``).
        self._terms = list(postings)
        ids_all: list[int] = []
        rows: list[list[float]] = [[], [], []]
        self._starts = [0]
        for t in self._terms:
            ids, shares = postings[t]
            asking = in_questions.get(t, set())
            ids_all += ids
            rows[0] += shares
            rows[1] += [idf[t] if i in asking else 0.0 for i in ids]
            rows[2] += [1.0 if i in asking else 0.0 for i in ids]
            self._starts.append(len(ids_all))
        self._ids = np.array(ids_all, dtype=np.intp)
        self._weights = np.array(rows)
        self._slice()
        self.entry_ids = [d.entry_id for d in docs]
        self.question_idf = np.array([sum(idf[t] for t in d.question) or 1.0
                                      for d in docs])
        self.need = np.array([max(1, min(tuning.min_terms, len(d.question))) for d in docs])
        self._bar = tuning.min_coverage * self.question_idf  # the IDF an entry needs
        self._qidf, self._need = self.question_idf.tolist(), self.need.tolist()

    def _slice(self) -> None:
        """Each term's postings: views of the two arrays (no copy)."""
        ids, weights, starts = self._ids, self._weights, self._starts
        self.postings = {t: (ids[starts[k]:starts[k + 1]], weights[:, starts[k]:starts[k + 1]])
                         for k, t in enumerate(self._terms)}

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if self.entry_ids:
            del state["postings"]  # views: made again from the two arrays
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if self.entry_ids:
            self._slice()

    def __len__(self) -> int:
        return len(self.entry_ids)

    def _tally(self, terms: Iterable[str]) -> tuple[Any, Any, Any]:
        """Per entry (arrays): score, matched question IDF, matched question terms (as
        floats).  An entry's sums are added term by term in the order of
        ``set(terms)``; adding the zeros of the terms its question lacks leaves them as
        they were."""
        import numpy as np

        n = len(self.entry_ids)
        postings = self.postings
        found = [postings[t] for t in set(terms) if t in postings]
        if not found:
            zero = np.zeros(n)
            return zero, zero, zero
        where = np.concatenate([p[0] for p in found])
        weights = np.concatenate([p[1] for p in found], axis=1)
        return (np.bincount(where, weights[0], n), np.bincount(where, weights[1], n),
                np.bincount(where, weights[2], n))

    def _match(self, i: int, score: float, covered: float, matched: float) -> Match:
        """Entry ``i``'s match from its three tallies (plain floats)."""
        coverage = covered / self._qidf[i]
        terms = int(matched)
        return Match(self.entry_ids[i], score, coverage, terms,
                     terms >= self._need[i] and coverage >= self.tuning.min_coverage)

    def scores(self, terms: Iterable[str]) -> list[Match]:
        """Every entry sharing a term with the mail, best first (for tuning and tests)."""
        score, covered, matched = self._tally(terms)
        out = [self._match(i, s, c, m) for i, (s, c, m) in enumerate(zip(
            score.tolist(), covered.tolist(), matched.tolist(), strict=True)) if s > 0]
        out.sort(key=lambda m: (-m.score, m.entry_id))
        return out

    def suggest(self, terms: Iterable[str], limit: int) -> list[Match]:
        """Up to ``limit`` entries that answer the mail, best first; often none.

        ``_tally``'s sums, the question test in numpy, then the few entries that pass
        it ranked in Python.  Each numpy call costs microseconds once the daemon's other
        work has pushed numpy out of the CPU's caches (twice its cost in a loop of
        suggestions alone), so this makes as few as it can: about a dozen a mail."""
        if limit <= 0 or not self.entry_ids:
            return []
        import numpy as np

        score, covered, matched = self._tally(terms)
        good = np.flatnonzero((matched >= self.need) & (covered >= self._bar))
        if not len(good):
            return []
        # Best first, ties by entry id, in Python: a mail passes the test for a handful
        # of entries (a few hundred at worst), and only ``limit`` are shown.
        ids = self.entry_ids
        picked = sorted(zip(score[good].tolist(), good.tolist(), covered[good].tolist(),
                            matched[good].tolist(), strict=True),
                        key=lambda g: (-g[0], ids[g[1]]))[:limit]
        ranked = [self._match(i, value, cover, terms_in)
                  for value, i, cover, terms_in in picked]
        score[good] = 0.0  # the best score among the entries not accepted
        rival = float(score.max())
        best = ranked[0]
        if best.score < self.tuning.margin * rival:
            return []
        return [best, *[m for m in ranked[1:]
                        if m.score >= self.tuning.second_ratio * best.score
                        and m.score >= self.tuning.margin * rival]]
