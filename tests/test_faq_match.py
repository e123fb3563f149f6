"""The matcher's rules, on term lists (no analyzer): a wrong suggestion is worse than
none, so a mail must cover the question, and stand clear of a rival entry."""

from __future__ import annotations

from mailticket.faq.match import FaqIndex, Tuning

ENTRIES = [
    (1, ["track", "order"], ["link", "shipping", "confirm"]),
    (2, ["return", "item"], ["label", "post", "office"]),
    (3, ["cancel", "order"], ["account", "hour"]),
    (4, ["reset", "password"], ["link", "login", "page"]),
]


def ids(index: FaqIndex, words: str, limit: int = 2) -> list[int]:
    return [m.entry_id for m in index.suggest(words.split(), limit)]


def test_a_mail_covering_the_question_gets_its_entry():
    index = FaqIndex(ENTRIES)
    assert ids(index, "hello want track order birthday") == [1]
    assert ids(index, "forgot password reset please") == [4]


def test_one_shared_word_is_not_enough():
    index = FaqIndex(ENTRIES)
    # "order" is in two questions; "link" only in answers: no question is covered.
    assert ids(index, "bulk order chairs office discount") == []
    assert ids(index, "link broken newsletter") == []


def test_two_covered_questions_are_both_shown_best_first():
    found = ids(FaqIndex(ENTRIES), "track order cancel")
    assert sorted(found) == [1, 3]


def test_an_ambiguous_mail_gets_nothing_rather_than_a_guess():
    rival = (5, ["parcel", "late", "order", "status", "courier"], ["track", "track", "track"])
    words = "track order parcel"
    by_id = {m.entry_id: m for m in FaqIndex([*ENTRIES, rival]).scores(words.split())}
    assert by_id[1].accepted and not by_id[5].accepted
    ratio = by_id[1].score / by_id[5].score
    # Entry 1 is shown while it stands clear of the rejected rival by the margin …
    assert ids(FaqIndex([*ENTRIES, rival], Tuning(margin=ratio * 0.9)), words) == [1]
    # … and nothing is, when the rival comes within the margin.
    assert ids(FaqIndex([*ENTRIES, rival], Tuning(margin=ratio * 1.1)), words) == []


def test_limits_and_empty_cases():
    index = FaqIndex(ENTRIES)
    assert ids(index, "track order return item", limit=0) == []
    assert len(ids(index, "track order return item", limit=1)) == 1
    assert ids(FaqIndex([]), "track order") == []
    assert ids(index, "") == []
