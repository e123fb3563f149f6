"""How good the auto-response's FAQ suggestions are, on a multilingual set written for
it (tests/data/faq/: a shop's entries in six languages, customers asking the same in
other words, and mails on other matters that share words with the entries).

Targets: precision of what is shown >= 0.8; the right entry shown for >= 0.6 of the
on-topic mails overall and >= 0.4 in each language; at most one off-topic mail in four
gets any suggestion; never an entry in another language than the customer's.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mailticket.faq.suggest import Shelf

DATA = Path(__file__).parent / "data" / "faq"
LANGUAGES = ("en", "fr", "sv", "es", "de", "bg")


@dataclass
class Figures:
    shown: int = 0
    right: int = 0
    on_topic: int = 0
    found: int = 0
    off_topic: int = 0
    off_shown: int = 0
    wrong_language: list[str] = field(default_factory=list)

    def add(self, other: Figures) -> None:
        for k in ("shown", "right", "on_topic", "found", "off_topic", "off_shown"):
            setattr(self, k, getattr(self, k) + getattr(other, k))
        self.wrong_language += other.wrong_language

    @property
    def precision(self) -> float:
        return self.right / self.shown if self.shown else 1.0

    @property
    def recall(self) -> float:
        return self.found / self.on_topic

    @property
    def off_rate(self) -> float:
        return self.off_shown / self.off_topic

    def line(self, name: str) -> str:
        return (f"{name:>4}: precision {self.precision:.2f} ({self.right}/{self.shown} shown), "
                f"recall {self.recall:.2f} ({self.found}/{self.on_topic}), "
                f"off-topic with a suggestion {self.off_shown}/{self.off_topic}")


def measure() -> dict[str, Figures]:
    sets = {lang: tomllib.loads((DATA / f"{lang}.toml").read_text(encoding="utf-8"))
            for lang in LANGUAGES}
    # One id space over every language, as in the database: an entry of another
    # language showing up would be seen.
    ids: dict[int, tuple[str, str]] = {}
    rows: dict[str, list[tuple[int, str, str]]] = {}
    for lang, data in sets.items():
        for e in data["faq"]:
            ids[len(ids) + 1] = (lang, e["key"])
            rows.setdefault(lang, []).append((len(ids), e["question"], e["answer"]))
    shelves = {lang: Shelf.build(rows[lang], lang) for lang in LANGUAGES}
    out = {}
    for lang, data in sets.items():
        f = Figures()
        for m in data["mail"]:
            got = shelves[lang].suggest(f"{m['subject']}\n{m['body']}", lang, 2)
            keys = []
            for s in got:
                entry_lang, key = ids[s.entry_id]
                if entry_lang != lang:
                    f.wrong_language.append(f"{lang} mail {m['subject']!r} got {entry_lang}")
                keys.append(key)
            f.shown += len(keys)
            if m["expect"]:
                f.on_topic += 1
                f.right += keys.count(m["expect"])
                f.found += m["expect"] in keys
            else:
                f.off_topic += 1
                f.off_shown += bool(keys)
        out[lang] = f
    return out


@pytest.fixture(scope="module")
def figures() -> dict[str, Figures]:
    return measure()


def test_the_set_is_what_it_claims(figures):
    for lang in LANGUAGES:
        data = tomllib.loads((DATA / f"{lang}.toml").read_text(encoding="utf-8"))
        keys = {e["key"] for e in data["faq"]}
        assert len(keys) == len(data["faq"]) >= 8
        assert {m["expect"] for m in data["mail"]} - {""} <= keys
        assert figures[lang].on_topic >= 2 * len(keys) and figures[lang].off_topic >= 6


def test_suggestions_are_precise_and_find_most_questions(figures, capsys):
    total = Figures()
    for f in figures.values():
        total.add(f)
    with capsys.disabled():
        print("\nFAQ suggestion quality (tests/data/faq):")
        for lang, f in figures.items():
            print(f.line(lang))
        print(total.line("all"))
    assert total.wrong_language == []
    assert total.precision >= 0.8
    assert total.recall >= 0.6
    assert total.off_rate <= 0.25
    for lang, f in figures.items():
        assert f.recall >= 0.4, f.line(lang)
