"""The analyzer: inflected forms of one word meet in one term, in each language."""

from __future__ import annotations

import gc

import pytest

from mailticket.search.analyzer import query_terms, terms

# (language, forms a customer writes of one word); each group must give one term.
INFLECTED = [
    ("en", ["password", "passwords", "Password's"]),
    ("en", ["deliver", "delivered", "delivering", "delivers"]),
    ("fr", ["commande", "commandes", "commandé", "commandée"]),
    ("fr", ["livraison", "livraisons"]),
    ("sv", ["beställning", "beställningen", "beställningar", "beställningarna"]),
    ("sv", ["återbetalning", "återbetalningen", "återbetalningar"]),
    ("sv", ["paket", "paketen", "paketet"]),
    ("es", ["contraseña", "contraseñas"]),
    ("es", ["pedido", "pedidos"]),
    ("de", ["Bestellung", "Bestellungen"]),
    ("de", ["Lieferung", "Lieferungen"]),
    ("bg", ["парола", "паролата", "пароли", "паролите"]),
    ("bg", ["поръчка", "поръчката", "поръчки", "поръчките"]),
    ("bg", ["куриер", "куриера", "куриерът"]),
]


@pytest.mark.parametrize(("language", "forms"), INFLECTED, ids=lambda v: str(v))
def test_inflected_forms_meet_in_one_term(language: str, forms: list[str]) -> None:
    found = {tuple(terms(form, language)) for form in forms}
    assert len(found) == 1, found
    assert len(next(iter(found))) == 1


@pytest.mark.parametrize(("language", "text"), [
    ("en", "Hello, I have not got my order and the parcel is late. Thanks"),
    ("fr", "Bonjour, je n'ai pas reçu ma commande et le colis est en retard. Merci"),
    ("sv", "Hej, jag har inte fått min beställning och paketet är sent. Tack"),
    ("es", "Hola, no he recibido mi pedido y el paquete llega tarde. Gracias"),
    ("de", "Hallo, ich habe meine Bestellung nicht bekommen und das Paket ist spät. Danke"),
    ("bg", "Здравейте, не съм получил поръчката си и пратката закъснява. Благодаря"),
])
def test_stop_words_and_greetings_are_left_out(language: str, text: str) -> None:
    got = terms(text, language)
    assert 3 <= len(got) <= 7, got
    for stop in ("i", "je", "jag", "no", "ich", "не", "hello", "bonjour", "hej", "hola",
                 "hallo", "здравеите", "thanks", "merci", "tack", "gracias", "danke"):
        assert stop not in got


def test_case_and_accents_are_folded_after_stemming() -> None:
    assert terms("RÉSUMÉ résumé resume", "fr") == terms("resume resume resume", "fr")
    assert terms("Straße", "de") == terms("strasse", "de")
    assert terms("Lösenord", "sv") == terms("losenord", "sv")
    assert terms("Контакт", "bg") == terms("контакт", "bg")


def test_a_text_of_no_known_language_is_folded_but_not_stemmed() -> None:
    assert terms("Passwörter Orders", None) == ["passworter", "orders"]
    assert terms("Passwörter", "xx") == ["passworter"]
    assert terms("orders", "en-GB") == terms("order", "en")


def test_numbers_are_kept_and_long_runs_are_not() -> None:
    got = terms("Order 123456, ref 7, token " + "a" * 60, "en")
    assert "123456" in got and "7" in got
    assert not any(len(t) > 40 for t in got)


def test_a_query_word_carries_its_term_in_every_language() -> None:
    groups = query_terms("passwords паролата the")
    assert len(groups) == 2   # "the" is a stop word
    assert terms("password", "en")[0] in groups[0]
    assert terms("пароли", "bg")[0] in groups[1]


def test_bulgarian_lemmas_are_those_of_simplemmas_full_dictionary() -> None:
    """The analyzer reads simplemma's low-memory dictionary (3.5 MB, not 28): its
    lemmas must be the in-memory dictionary's, for known and unknown forms alike."""
    import simplemma
    from simplemma.strategies.dictionaries.dictionary_factory import (
        _load_dictionary_from_disk,
    )

    known = [k.decode() for k in list(_load_dictionary_from_disk("bg"))[::40]]
    words = [*known, *(w + "та" for w in known[::5]), *(w[:-1] for w in known[::5])]
    for word in words:
        assert simplemma.lemmatize(word, lang="bg", low_memory=True) == \
            simplemma.lemmatize(word, lang="bg"), word


def test_words_analysed_leave_nothing_for_the_garbage_collector_to_walk():
    """A daemon's full collections walk every tracked object: the analyzer's caches of
    thousands of words must not add to them (PyStemmer's own cache kept a list per
    word)."""
    words = " ".join(f"walking{i}x" for i in range(5000))
    gc.collect()
    before = len(gc.get_objects())
    for lang in ("en", "fr", "sv"):
        assert len(terms(words, lang)) == 5000
    gc.collect()
    assert len(gc.get_objects()) - before < 500
