"""Is a customer's reply a grade?  "4 — merci, rapide", "5/5", "fem stjärnor", "Cinq !".

Pure.  A reply read as a grade is not read as a question, so this errs towards "no":
the grade must open the reply and be followed by nothing, a separator, "/5", "out of
5" or a word for stars.  "2 questions about my bill" and "Un problème persiste" stay
questions (they reopen the ticket as any follow-up does).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

#: Numbers 1–5 as words in the six languages we answer in (accents folded, lower case).
NUMBER_WORDS: dict[str, int] = {
    # en
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    # fr
    "un": 1, "une": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5,
    # sv
    "en": 1, "ett": 1, "tva": 2, "tre": 3, "fyra": 4, "fem": 5,
    # es
    "uno": 1, "una": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5,
    # de
    "eins": 1, "zwei": 2, "drei": 3, "vier": 4, "funf": 5, "fuenf": 5,
    # bg
    "едно": 1, "един": 1, "една": 1, "две": 2, "два": 2, "три": 3, "четири": 4, "пет": 5,
}
#: Words for "star(s)" and "point(s)" that may follow the number.
UNIT_WORDS = frozenset({
    "star", "stars", "point", "points",
    "etoile", "etoiles",
    "stjarna", "stjarnor", "poang",
    "estrella", "estrellas", "puntos",
    "stern", "sterne", "punkt", "punkte",
    "звезда", "звезди", "точка", "точки",
})
#: "out of", "sur", "av", "de", "von", "от" before a 5.
OUT_OF = r"(?:/|out\s+of|of|sur|av|de|von|aus|от|из)"

_HEAD = re.compile(
    rf"^\s*(?P<n>\d+|[^\W\d_]+)"
    rf"(?P<of>\s*{OUT_OF}\s*5(?!\d))?"           # 4/5, 4 out of 5, 4 sur 5
    rf"(?:\s+(?P<unit>[^\W\d_]+))?"             # stars, étoiles, stjärnor …
    rf"(?P<rest>.*)$", re.DOTALL)
#: Without "/5" or "stars", the grade must stand alone: nothing, or a separator next.
_SEPARATOR = re.compile(r"\s*(?:$|\n|[-–—:,.;!)|])")
_LEADING = re.compile(r"^[\s\-–—:,.;!)|]+")


@dataclass(frozen=True)
class Grade:
    value: int       # 1 … 5
    comment: str     # what followed the grade, trimmed ("" when none)


def _fold(word: str) -> str:
    """Case and Latin accents folded (fünf → funf, två → tva); Cyrillic kept (й stays)."""
    out = []
    for c in word.casefold():
        base = unicodedata.normalize("NFKD", c)
        out.append(base[0] if base[0].isascii() else c)
    return "".join(out)


def _value(token: str) -> int | None:
    if token.isdigit():
        return int(token) if token in {"1", "2", "3", "4", "5"} else None
    return NUMBER_WORDS.get(_fold(token))


def read_grade(text: str) -> Grade | None:
    """The grade at the top of ``text`` (the reply's new text, quotes removed), or None."""
    m = _HEAD.match(text)
    if m is None or (value := _value(m["n"])) is None:
        return None
    unit = m["unit"] is not None and _fold(m["unit"]) in UNIT_WORDS
    rest = m["rest"] if unit or m["unit"] is None else text[m.start("unit") - 1:]
    if not (unit or m["of"]) and not _SEPARATOR.match(rest):
        return None
    return Grade(value, _LEADING.sub("", rest).strip())
