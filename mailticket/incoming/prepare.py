"""Preparing a mail: everything that needs no database, done once, in one place.

A parse worker and the in-process path both call ``Preparer.prepare``, so the writer
never repeats a worker's work: a ``Prepared`` always holds all four answers, and
``language`` None means "the mail names no language with confidence", not "not asked".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mailticket.incoming.classify import Verdict, classify
from mailticket.incoming.language import LanguageDetector
from mailticket.incoming.parse import ParsedMail, fingerprint, parse
from mailticket.outgoing.compose import LOOP_HEADER

if TYPE_CHECKING:
    from mailticket.faq.ahead import Ahead


@dataclass
class Prepared:
    """A parsed mail with its fingerprint, the classifier's verdict and its language."""
    mail: ParsedMail
    fingerprint: str
    verdict: Verdict
    language: tuple[str, str] | None  # (language, "header" | "detected"); None: none named
    faq: Ahead | None = None  # a parse worker's FAQ match (``faq.ahead``); None: not made


class Preparer:
    """What preparing needs: the detector, the helpdesk's own addresses, our loop header."""

    def __init__(self, detector: LanguageDetector, min_confidence: float,
                 own: frozenset[str], instance: str) -> None:
        self.detector = detector
        self.min_confidence = min_confidence
        self.own = own
        self.instance = instance

    def prepare(self, raw: bytes) -> Prepared:
        mail = parse(raw)
        # The detector skips quoted lines itself; no need for the full reply parser here.
        language = self.detector.guess(
            mail.text, mail.header("Content-Language") or mail.content_language,
            self.min_confidence)
        return Prepared(mail, fingerprint(mail),
                        classify(mail, self.own, LOOP_HEADER, self.instance), language)
