"""Which language a customer wrote in, so that we can answer in it.

The sender's ``Content-Language`` header is trusted first when it names a language
we have templates for; otherwise the text itself is classified with Lingua, built
for the configured languages only (all-languages mode costs far more memory). Lingua
knows a language by its ISO 639-1 code, the one ``mailticket/languages.py`` keys by,
and carries its models inside its wheel: nothing is downloaded at run time.

Guessing wrong is worse than answering in the department's default language, so a
text that is too short, not confidently classified, or split between languages
gets the fallback instead of a guess.
"""

from __future__ import annotations

import re
import threading
from collections import defaultdict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import lingua

# Between what short customer mails in the default languages score when classified
# right and what two-word replies ("Tack!", "OK") score.
DEFAULT_MIN_CONFIDENCE = 0.5
# Below about twenty letters ("ok thanks", "Danke!") any classifier is guessing.
DEFAULT_MIN_LETTERS = 20
# Lingua's trigram-only mode guesses wrong with confidence on short lines ("Hello, my
# printer is broken." came out Swedish); from this length on our samples come out right.
LOW_MEMORY_MIN_LETTERS = 30
# A sentence this short is not classified on its own when weighing a mixed text.
_SEGMENT_LETTERS = 12
# Share of the classified sentences the winning language must hold in a mixed text.
DEFAULT_MIN_SHARE = 2 / 3

# The opening of a long mail says which language it is in; reading on costs time only
# (a megabyte of text would hold a worker for seconds).
MAX_CHARS = 4000

_WORD = re.compile(r"\S+")
_SEGMENT_SPLIT = re.compile(r"\n|(?<=[.!?…;:])\s+")
_COMMENT = re.compile(r"\([^()]*\)")

# One Lingua detector per language set and accuracy mode, per process: building one
# is cheap, but the models it loads are large.
_DETECTORS: dict[tuple[frozenset[str], bool], lingua.LanguageDetector] = {}
_DETECTORS_LOCK = threading.Lock()


def _lingua_detector(languages: frozenset[str], low_memory: bool) -> lingua.LanguageDetector:
    key = (languages, low_memory)
    detector = _DETECTORS.get(key)
    if detector is None:
        with _DETECTORS_LOCK:
            detector = _DETECTORS.get(key)
            if detector is None:
                from lingua import IsoCode639_1, LanguageDetectorBuilder

                codes = [IsoCode639_1.from_str(code) for code in sorted(languages)]
                builder = LanguageDetectorBuilder.from_iso_codes_639_1(*codes)
                if low_memory:
                    builder = builder.with_low_accuracy_mode()
                detector = _DETECTORS[key] = builder.build()
    return detector


def _letters(text: str) -> int:
    return sum(ch.isalpha() for ch in text)


def header_language(content_language: str | None, languages: frozenset[str]) -> str | None:
    """The first configured language named by a Content-Language value ("fr-FR, en")."""
    if not content_language:
        return None
    value = _COMMENT.sub(" ", str(content_language))
    for tag in value.split(","):
        primary = tag.split(";")[0].strip().replace("_", "-").split("-")[0].lower()
        if primary in languages:
            return primary
    return None


def clean_text(text: str, limit: int = MAX_CHARS) -> str:
    """The customer's own words: quoted lines, links and addresses say nothing of them.

    The "On … wrote:" line above a quote is written by the mail client, often in
    another language than the customer's, so it goes with the quote. At most about
    ``limit`` characters are returned, whatever the size of the mail.
    """
    kept: list[str] = []
    size = 0
    for line in text.splitlines():
        if line.lstrip().startswith(">"):
            while kept and not kept[-1].strip():
                size -= len(kept.pop())
            if kept and kept[-1].rstrip().endswith(":"):
                size -= len(kept.pop())
            continue
        if size > 2 * limit:
            break
        line = line[: 2 * limit]
        kept.append(line)
        size += len(line)
    return _WORD.sub(_drop_link_or_address, "\n".join(kept))[:limit]


def _drop_link_or_address(word: re.Match[str]) -> str:
    token = word.group()
    if "@" in token or token.lower().startswith(("http://", "https://", "www.")):
        return " "
    return token


class LanguageDetector:
    """Picks the language to answer a customer in, among the configured ones."""

    def __init__(
        self,
        languages: frozenset[str] | set[str] | list[str] | tuple[str, ...] | None = None,
        *,
        min_letters: int = DEFAULT_MIN_LETTERS,
        min_share: float = DEFAULT_MIN_SHARE,
        low_memory: bool = False,
    ) -> None:
        """``languages``: None for those of the table (``mailticket/languages.py``).
        ``low_memory`` uses Lingua's trigram-only mode, a fraction of the memory.

        Unsupported language codes raise ``ValueError`` here, at configuration time,
        rather than on the first mail.
        """
        from lingua import IsoCode639_1

        if languages is None:
            # Not imported with this module: the table brings Babel and the date
            # phrasings, 4.5 MB a parse worker (given its languages) never uses.
            from mailticket.languages import CODES

            languages = CODES
        self.languages = frozenset(code.strip().lower() for code in languages)
        for code in self.languages:
            try:
                IsoCode639_1.from_str(code)
            except ValueError:
                raise ValueError(f"language {code!r} is not supported by lingua") from None
        self.min_letters = max(min_letters, LOW_MEMORY_MIN_LETTERS) if low_memory else min_letters
        self.min_share = min_share
        self.low_memory = low_memory

    def warm_up(self) -> None:
        """Load the models now (daemon start) rather than while a mail waits."""
        if len(self.languages) >= 2:
            detector = _lingua_detector(self.languages, self.low_memory)
            detector.compute_language_confidence_values("warm up the language models")

    def detect(
        self,
        text: str,
        content_language: str | None = None,
        fallback: str = "en",
        min_confidence: float = DEFAULT_MIN_CONFIDENCE,
    ) -> tuple[str, str]:
        """``(language, how)``, how being ``"header"``, ``"detected"`` or ``"fallback"``."""
        return self.guess(text, content_language, min_confidence) or (fallback, "fallback")

    def guess(self, text: str, content_language: str | None = None,
              min_confidence: float = DEFAULT_MIN_CONFIDENCE) -> tuple[str, str] | None:
        """What the mail itself says: ``(language, "header" | "detected")``, or None."""
        named = header_language(content_language, self.languages)
        if named:
            return named, "header"
        found = self._classify(clean_text(text or "", MAX_CHARS), min_confidence)
        return (found, "detected") if found else None

    def _classify(self, text: str, min_confidence: float) -> str | None:
        # One configured language leaves nothing to tell apart.
        if len(self.languages) < 2 or _letters(text) < self.min_letters:
            return None
        detector = _lingua_detector(self.languages, self.low_memory)
        best = detector.compute_language_confidence_values(text)[0]
        if best.value < min_confidence:
            return None
        winner = best.language.iso_code_639_1.name.lower()
        # Lingua's confidence over a whole text grows with its length, even when half
        # of it is in another language: weigh the sentences one by one as well.
        weights: dict[str, float] = defaultdict(float)
        for segment in _SEGMENT_SPLIT.split(text):
            letters = _letters(segment)
            if letters < _SEGMENT_LETTERS:
                continue
            # Confidence-weighted, so one sentence that looks German inside a Swedish
            # mail ("Lampan blinkar orange") counts only as much as lingua believes it.
            for value in detector.compute_language_confidence_values(segment)[:3]:
                weights[value.language.iso_code_639_1.name.lower()] += letters * value.value
        total = sum(weights.values())
        if total and weights[winner] / total < self.min_share:
            return None
        return winner
