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
    assert FaqIndex([]).scores(["track"]) == []
    assert ids(index, "") == []
    # Entries whose words were all stop words weigh nothing, and match nothing.
    assert ids(FaqIndex([(7, [], []), (8, [], [])]), "track order") == []
    assert all(type(m.accepted) is bool and type(m.terms) is int
               for m in [*index.scores(["track", "order", "cancel"]),
                         *index.suggest(["track", "order", "cancel"], 2)])


def _by_the_rules(index: FaqIndex, mail: list[str], limit: int) -> list[tuple]:
    """The module docstring's rules, applied to ``scores`` (every entry sharing a term,
    scored one by one): what the fast path of ``suggest`` must agree with."""
    t = index.tuning
    every = index.scores(mail)
    accepted = [m for m in every if m.accepted]
    if limit <= 0 or not accepted:
        return []
    rival = max((m.score for m in every if not m.accepted), default=0.0)
    best = accepted[0]
    if best.score < t.margin * rival:
        return []
    shown = [best, *[m for m in accepted[1:limit] if m.score >= t.second_ratio * best.score
                     and m.score >= t.margin * rival]]
    return [(m.entry_id, m.score, m.coverage, m.terms) for m in shown]


def test_suggest_agrees_with_the_rules_on_random_entries_and_mails():
    import random

    rng = random.Random(19)
    vocabulary = [f"w{i}" for i in range(120)]
    shown = 0
    for _ in range(150):
        entries = [(rng.randrange(10_000), rng.sample(vocabulary[:40], rng.randint(1, 5)),
                    [rng.choice(vocabulary) for _ in range(rng.randint(0, 20))])
                   for _ in range(rng.choice([1, 3, 30, 200]))]
        # Copies under a lower id, later in the list: equal scores, shown by id.
        entries += [(i - 10_000, q, a) for i, q, a in entries if rng.random() < 0.2]
        index = FaqIndex(entries)
        for _ in range(10):
            mail = [rng.choice(vocabulary[:60]) for _ in range(rng.randint(0, 30))]
            for limit in (1, 2, 3):
                got = [(m.entry_id, m.score, m.coverage, m.terms)
                       for m in index.suggest(mail, limit)]
                assert got == _by_the_rules(index, mail, limit), (entries, mail, limit)
                shown += bool(got)
    assert shown > 500  # the random cases do reach suggestions, not only "nothing"


def test_an_index_sent_to_a_parse_worker_suggests_the_same_and_holds_little():
    """A worker gets the daemon's index pickled (``faq.ahead``): the same suggestions
    after the trip, and what it holds there is near the bytes of its postings (views
    of two arrays), not two arrays of their own per term."""
    import pickle
    import random
    import tracemalloc

    rng = random.Random(23)
    vocabulary = [f"t{i}" for i in range(3000)]
    index = FaqIndex((i, rng.sample(vocabulary, 6), rng.sample(vocabulary, 30))
                     for i in range(1000))
    sent = pickle.dumps(index, protocol=pickle.HIGHEST_PROTOCOL)
    tracemalloc.start()
    there = pickle.loads(sent)
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    postings = sum(ids.nbytes + weights.nbytes for ids, weights in index.postings.values())
    assert held < 3 * postings  # two arrays of their own per term held 5 times as much
    for _ in range(200):
        mail = rng.sample(vocabulary, 25)
        assert there.suggest(mail, 2) == index.suggest(mail, 2)
        assert there.scores(mail) == index.scores(mail)
    assert FaqIndex([]).suggest(["t1"], 2) == pickle.loads(pickle.dumps(FaqIndex([]))).suggest(
        ["t1"], 2) == []
