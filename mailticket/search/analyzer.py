"""Text → index terms: the one analyzer behind search, FAQ suggestions and clusters.

Words are case- and accent-folded, stop words dropped, and reduced to a stem in the
text's language, so "passwords", "password" and "Password's" meet, as do "паролата"
and "пароли".  English, French, Swedish, Spanish and German use the Snowball stemmers
(PyStemmer); Snowball has none for Bulgarian, so Bulgarian words are lemmatised with
simplemma's dictionary (read on the first Cyrillic word), and words it does not know
lose their definite article.  The dictionary is simplemma's low-memory form, its
front-coded stream searched in place: 3.5 MB instead of a 28 MB dict in every process
that reads Bulgarian, the same lemmas, ~50 µs instead of ~7 for a word the caches
below have not seen.  simplemma's lemmas before Snowball would also join Swedish
"lösenordet" to "lösenord", but its Swedish, German and Spanish dictionaries cost
100 MB and a second to load each: left out.
Folding comes after stemming because the stemmers read the accents ("é", "ä", "ü").
A text of no known language keeps its folded words unstemmed.

Pure and cached per word: the same few thousand words make up most mail, so a word
seen before costs one dictionary look-up.  ``text_terms`` also keeps the last mails'
analyses: the FAQ suggestion and the search index of one new mail share one.  These
caches hold nothing the garbage collector tracks; PyStemmer's own cache would (a
list per word, 10,000 per language, walked by every full collection of the daemon):
it is off.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache, lru_cache

import Stemmer

from mailticket.mail.subject import base_subject
from mailticket.search.stopwords import STOP_WORDS

#: The languages the analyzer stems, and the Snowball algorithm of each (None: simplemma).
STEMMERS: dict[str, str | None] = {
    "en": "english", "fr": "french", "sv": "swedish", "es": "spanish", "de": "german",
    "bg": None,
}
LANGUAGES: tuple[str, ...] = tuple(STEMMERS)

_WORD = re.compile(r"[^\W_]+")  # letters and digits: both engines split on "_"
_MAX_WORD = 40  # longer "words" are hashes, base64 or URLs run together: no one types them
# Bulgarian definite articles, longest first, for words simplemma does not know.
_BG_ARTICLES = ("ията", "ият", "ия", "ът", "ят", "та", "то", "те")


_KNOWN_WORDS = 200_000  # words remembered per language (a few tens of MB at most)
# language → casefolded word → its term, "" for a word left out; filled as mail is read.
_known: dict[str | None, dict[str, str]] = {}


def terms(text: str, language: str | None) -> list[str]:
    """The index terms of ``text``, in order, repeats kept (they weigh in the ranking)."""
    lang = _language(language)
    known = _known.get(lang)
    if known is None:
        known = _known.setdefault(lang, {})
    get = known.get
    out: list[str] = []
    append = out.append
    for word in _WORD.findall(text.casefold()):
        found = get(word)
        if found is None:
            found = _word_term(word, lang)
            if len(known) >= _KNOWN_WORDS:
                known.clear()  # a flood of made-up words: start again rather than grow
            known[word] = found
        if found:
            append(found)
    return out


#: Mails analysed lately: a new mail is analysed for its FAQ suggestion, then again for
#: the search index and its question, in the same transaction (a batch of up to 200).
RECENT_TEXTS = 512
#: Longer texts are analysed again rather than kept: the cache holds at most a few MB.
CACHED_TEXT = 10_000


def text_terms(text: str, language: str | None) -> tuple[str, ...]:
    """``terms`` of a mail's text, remembered for the next few hundred mails."""
    if len(text) > CACHED_TEXT:
        return tuple(terms(text, language))
    return _recent_terms(text, language)


@lru_cache(maxsize=RECENT_TEXTS)
def _recent_terms(text: str, language: str | None) -> tuple[str, ...]:
    return tuple(terms(text, language))


MAX_TEXT = 50_000  # characters of a mail that are indexed: a pasted log is not the question


def body_terms(text: str, language: str | None) -> tuple[str, ...]:
    """The terms of a mail's text as the index reads it (its first ``MAX_TEXT``
    characters), shared with the FAQ suggestion of the same mail (one analysis)."""
    return text_terms(text[:MAX_TEXT], language)


def mail_terms(subject: str, text: str, language: str | None) -> list[str]:
    """A mail's subject (without "Re:" and our tag) and text, as terms: what the FAQ
    suggestion matches, analysed once with the index's document of the same mail."""
    return [*terms(base_subject(subject), language), *body_terms(text, language)]


def _word_term(word: str, lang: str | None) -> str:
    """The term of one casefolded word of a text in ``lang`` (already normalised), or
    "" when it is left out: too long, too short, a stop word."""
    if len(word) > _MAX_WORD or (len(word) < 2 and not word.isdigit()):
        return ""
    stops = STOP_WORDS.get(lang or "", frozenset())
    if word in stops or _fold(word) in stops:
        return ""
    return _term(word, lang)


def query_terms(text: str) -> list[list[str]]:
    """Each word of a query with its terms in every language, for a query whose language
    nobody told us: the word is found in a ticket of any language.  A word that is a
    stop word in some language is left out (a ticket in that language has not kept it)."""
    groups: list[list[str]] = []
    for match in _WORD.finditer(text.casefold()):
        word = match.group()
        if len(word) > _MAX_WORD or (len(word) < 2 and not word.isdigit()):
            continue
        if any(word in stops or _fold(word) in stops for stops in STOP_WORDS.values()):
            continue
        variants = sorted({_term(word, lang) for lang in LANGUAGES} - {""})
        if variants:
            groups.append(variants)
    return groups


def words(text: str) -> list[tuple[int, int, str]]:
    """(start, end, casefolded word) of each word of ``text``, for snippets."""
    return [(m.start(), m.end(), m.group().casefold()) for m in _WORD.finditer(text)]


def term(word: str, language: str | None) -> str:
    """The term of one casefolded word ("" for a stop word), as ``terms`` gives it."""
    lang = _language(language)
    stops = STOP_WORDS.get(lang or "", frozenset())
    if word in stops or _fold(word) in stops:
        return ""
    return _term(word, lang)


def _language(language: str | None) -> str | None:
    """"fr-CA", "FR", "fr_FR" → "fr"; None for a language the analyzer does not stem."""
    if not language:
        return None
    code = language.strip().lower().replace("_", "-").split("-")[0]
    return code if code in STEMMERS else None


@lru_cache(maxsize=200_000)
def _term(word: str, language: str | None) -> str:
    if language is None:
        return _fold(word)
    algorithm = STEMMERS[language]
    if algorithm is None:
        return _fold(_bulgarian(word))
    return _fold(_stemmer(algorithm).stemWord(word))


def _bulgarian(word: str) -> str:
    if not _is_cyrillic(word):
        return word  # a Latin word in a Bulgarian mail: an order number, a brand
    import simplemma  # 0.2 s to import: only where Bulgarian is read

    lemma = str(simplemma.lemmatize(word, lang="bg", low_memory=True)).casefold()
    if lemma != word:
        return lemma
    for article in _BG_ARTICLES:
        if word.endswith(article) and len(word) - len(article) >= 3:
            return word[: -len(article)]
    return word


def _is_cyrillic(word: str) -> bool:
    return any("\u0400" <= ch <= "\u04ff" for ch in word)


@cache
def _stemmer(algorithm: str) -> Stemmer.Stemmer:
    # PyStemmer's own cache (10,000 words, a list per word) is off: ``_known`` is ours.
    return Stemmer.Stemmer(algorithm, 0)


@lru_cache(maxsize=200_000)
def _fold(word: str) -> str:
    """Accents off ("é" → "e", "ö" → "o", "й" → "и"), "ß" → "ss"."""
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
