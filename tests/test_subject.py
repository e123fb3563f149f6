import pytest

from mailticket.mail.subject import base_subject, find_tags, reply_subject, strip_prefixes


@pytest.mark.parametrize("raw", [
    "Re: Printer", "RE: Printer", "re:Printer", "Fwd: Printer", "FW: Printer", "Fw: Printer",
    "AW: Printer", "WG: Printer", "SV: Printer", "VS: Printer", "Antw: Printer",
    "RV: Printer", "RIF: Printer", "Réf. : Printer", "RÉF : Printer", "TR: Printer",
    "Отг.: Printer", "ОТГ: Printer", "Re[2]: Printer", "Re(3): Printer", "RE : Printer",
    "Re: Re: Re: Printer", "Re: AW: SV: Fwd: Printer", "回复：Printer", "Re:  Printer",
])
def test_prefixes_in_many_languages_are_stripped(raw):
    assert strip_prefixes(raw) == "Printer"


@pytest.mark.parametrize("raw", ["Regarding the printer", "Sverige", "Rework plan",
                                 "Awful printer", "Ref number 12"])
def test_words_that_start_like_prefixes_stay(raw):
    assert strip_prefixes(raw) == raw


def test_tags_are_found_and_removed_from_the_base_subject():
    s = "Re: AW: [Support #123] Re: Printer on fire"
    assert find_tags(s) == [("Support", 123)]
    assert base_subject(s) == "Printer on fire"


def test_reply_subject_never_stacks_prefixes_or_tags():
    first = reply_subject("Support", 7, "Printer")
    assert first == "Re: [Support #7] Printer"
    again = reply_subject("Support", 7, "SV: Re: " + first)
    assert again == first


def test_empty_subject_gets_a_placeholder():
    assert reply_subject("Sales", 1, "Re: ") == "Re: [Sales #1] (no subject)"
