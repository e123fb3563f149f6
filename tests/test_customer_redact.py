"""The pure pieces of erasure: pseudonyms, replacing a person in text, bytes and JSON,
what an erased ticket's events keep, and quotes of a person's words."""

from __future__ import annotations

from mailticket.customers.redact import (
    Replacer,
    bare_detail,
    is_pseudonym,
    new_pseudonym,
    phrases_of,
    quotes,
)


def test_pseudonyms_are_random_and_undeliverable():
    a, b = new_pseudonym(), new_pseudonym()
    assert a != b and is_pseudonym(a) and a.endswith("@erased.invalid")
    assert not is_pseudonym("ann@example.com") and not is_pseudonym(None)


def test_replacer_takes_address_and_name_out_of_everything():
    r = Replacer({"ann@x.example": "p@erased.invalid"}, {"Ann Ærlig", "A"})
    assert r.text("Mail from ANN@x.example (Ann ærlig)") == "Mail from p@erased.invalid ()"
    assert r.raw(b"Cc: Ann@X.example\r\n") == b"Cc: p@erased.invalid\r\n"
    assert r.addresses(["bob@x.example", "ann@x.example"]) == ["bob@x.example",
                                                               "p@erased.invalid"]
    assert r.json({"to": ["ann@x.example"], "n": 3}) == {"to": ["p@erased.invalid"], "n": 3}
    assert r.text("A short A stays") == "A short A stays"  # names under 3 letters kept
    assert r.mentions(b"x ann@x.example") and not r.mentions("bob")



def test_replacer_leaves_other_peoples_addresses_and_longer_words_whole():
    """Erasing Ann must not maim Joann's address, Annette's name or a word that
    merely holds Ann's name."""
    r = Replacer({"ann@x.example": "p@erased.invalid"}, {"Ann", "Ann Lee"})
    assert r.text("Cc: joann@x.example, ann@x.example.org, Ann@X.Example.") == (
        "Cc: joann@x.example, ann@x.example.org, p@erased.invalid.")
    assert r.text("Annette met Ann Lee and ann; ann.lee@y.example too") == (
        "Annette met  and ; ann.lee@y.example too")
    assert r.raw("Från: Ann <ann@x.example>, Joanna <ann.b@x.example>\r\n".encode()) == (
        "Från:  <p@erased.invalid>, Joanna <ann.b@x.example>\r\n".encode())
    assert not r.mentions("Annette <joann@x.example>")
    assert r.mentions(b"to ANN@x.example") and r.mentions("hi Ann!")

def test_an_erased_tickets_event_keeps_vocabulary_numbers_instants_and_staff():
    detail = {"old": "open", "new": "closed", "level": 2, "due_at": "2026-11-24T09:00:00+00:00",
              "subject": "My walrus printer", "to": ["alice@x.example"],
              "header": "Ann <ann@x.example>", "cc": ["kim@x.example"]}
    kept = bare_detail(detail, lambda a: a == "alice@x.example")
    assert kept == {"old": "open", "new": "closed", "level": 2,
                    "due_at": "2026-11-24T09:00:00+00:00", "to": ["alice@x.example"]}


def test_quotes_are_found_through_quote_marks_and_wrapping():
    phrases = phrases_of(["Hello,\nThe purple walrus printer is smouldering.\nAnn"])
    assert phrases == {"the purple walrus printer is smouldering."}
    # A client that re-wraps the quote over two lines still repeats her words.
    assert quotes("On Monday Ann wrote:\n> The purple walrus   printer\n> is smouldering.",
                  phrases)
    assert quotes("> > The purple walrus printer is smouldering.", phrases)
    assert not quotes("We will replace the printer.", phrases)
