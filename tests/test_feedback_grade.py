"""Reading a grade from a customer's reply: numbers, words in six languages, and the
replies that must stay questions."""

from __future__ import annotations

import pytest

from mailticket.feedback.grade import Grade, read_grade


@pytest.mark.parametrize(("text", "value", "comment"), [
    ("4 — merci, rapide", 4, "merci, rapide"),
    ("5", 5, ""),
    ("5/5", 5, ""),
    ("5/5 great service", 5, "great service"),
    ("3 out of 5, slow but fine", 3, "slow but fine"),
    ("4 sur 5", 4, ""),
    ("5 stars", 5, ""),
    ("Cinq !", 5, ""),
    ("fem stjärnor, tack", 5, "tack"),
    ("Fyra", 4, ""),
    ("cuatro de 5 estrellas", 4, ""),
    ("Cinco. Muy amables", 5, "Muy amables"),
    ("fünf", 5, ""),
    ("Drei Sterne", 3, ""),
    ("пет", 5, ""),
    ("Пет звезди, благодаря", 5, "благодаря"),
    ("два - бавно", 2, "бавно"),
    ("five", 5, ""),
    ("1\n\nNobody read what I wrote.", 1, "Nobody read what I wrote."),
    ("  2: too slow", 2, "too slow"),
])
def test_grades(text: str, value: int, comment: str) -> None:
    assert read_grade(text) == Grade(value, comment)


@pytest.mark.parametrize("text", [
    "Un problème persiste avec ma facture",   # "un" is French for "a"
    "En fråga till: hur byter jag lösenord?",  # "en" is Swedish for "a"
    "2 questions about my bill",
    "4 merci rapide",                          # no separator, no "/5": not sure enough
    "Thanks! 5",                               # the grade must open the reply
    "10",
    "0",
    "2026 was a good year",
    "Hello, my printer is still broken",
    "",
    "Dos cosas más: …",
])
def test_not_grades(text: str) -> None:
    assert read_grade(text) is None
