"""Which customer replies say "solved": the word at the very top, in any language of
the six, any case, accents or not; a word that merely contains it does not."""

from __future__ import annotations

import pytest

from mailticket.faq.replies import says_solved


@pytest.mark.parametrize("text", [
    "SOLVED", "solved, thanks!", "Résolu, merci !", "RESOLU", "\n\n  LÖST\n> quote",
    "löst, tack", "Resuelto. Gracias", "РЕШЕНО", "решено, благодаря", "GELÖST",
    "Gelost - danke", "*Solved*",
])
def test_solved_in_each_language(text):
    assert says_solved(text)


@pytest.mark.parametrize("text", [
    "", "Not solved yet", "Unsolved", "Thanks, solved", "Résolution du problème ?",
    "Gelöste Aufgabe?", "Решенията не работят", "Well, my question stands\nSOLVED",
])
def test_other_replies_do_not(text):
    assert not says_solved(text)
