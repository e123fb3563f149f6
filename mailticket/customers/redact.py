"""Pure pieces of erasure: pseudonyms, and taking a person's address and name out of
strings, bytes and event details.

A pseudonym is random, never derived from the address: a hash of it would let anyone
holding an address confirm that this person was a customer.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from typing import Any

#: Pseudonyms live under a reserved top-level domain (RFC 2606): never deliverable.
PSEUDONYM_DOMAIN = "erased.invalid"
#: What stands for an address that a reader may not see (in an export).
REDACTED = "redacted@redacted.invalid"

# Event detail values kept on an erased ticket: vocabulary (states, priorities,
# languages, kinds, rules), numbers and instants; free text and addresses go.
_VOCABULARY = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}[T ][0-9:.+\-Z]*$")


def new_pseudonym() -> str:
    return f"erased-{secrets.token_hex(6)}@{PSEUDONYM_DOMAIN}"


def is_pseudonym(address: str | None) -> bool:
    return bool(address) and str(address).lower().endswith("@" + PSEUDONYM_DOMAIN)


# An address as it stands in text or a header: kept whole, so a name or another
# person's address is never replaced inside it.
_LOCAL = r"[{w}.!#$%&'*+/=?^`{{|}}~-]+"
_DOMAIN = r"[{w}-]+(?:\.[{w}-]+)*"
_TEXT_WORD = r"\w"
_BYTES_WORD = r"A-Za-z0-9_\x80-\xff"


def _pattern(names: Iterable[str], word: str) -> str | None:
    """Any address, or one of ``names`` as a whole word (longest first)."""
    words = sorted({n for n in names if n and len(n) >= 3}, key=len, reverse=True)
    address = _LOCAL.format(w=word) + "@" + _DOMAIN.format(w=word)
    if not words:
        return f"({address})"
    names_ = "|".join(re.escape(w) for w in words)
    return f"({address})|(?<![{word}])(?:{names_})(?![{word}])"


class Replacer:
    """Replaces each of ``aliases`` (address → pseudonym) and ``names`` (erased to
    "") wherever they occur, case-insensitively, in text, bytes and JSON values.

    Addresses are matched whole and names as whole words: "ann@x.example" inside
    "joann@x.example", or the name "Ann" inside "Annette", stay as they are.
    """

    def __init__(self, aliases: Mapping[str, str], names: Iterable[str] = ()) -> None:
        self.aliases = {a.lower(): p for a, p in aliases.items()}
        self.names = {n for n in names if n and len(n) >= 3}
        text = _pattern(self.names, _TEXT_WORD) if self.aliases or self.names else None
        self._text = re.compile(text, re.IGNORECASE) if text else None
        raw = _pattern(self.names, _BYTES_WORD) if self.aliases or self.names else None
        self._bytes = re.compile(raw.encode("utf-8"), re.IGNORECASE) if raw else None

    def _sub(self, found: re.Match[str]) -> str:
        if found.group(1) is not None:  # an address: only the person's own is replaced
            return self.aliases.get(found.group(1).lower(), found.group(1))
        return ""

    def text(self, value: str) -> str:
        if self._text is None or not value:
            return value
        return self._text.sub(self._sub, value)

    def raw(self, value: bytes) -> bytes:
        if self._bytes is None or not value:
            return value

        def sub(m: re.Match[bytes]) -> bytes:
            if m.group(1) is not None:
                found = m.group(1).decode("utf-8", "replace").lower()
                return self.aliases[found].encode() if found in self.aliases else m.group(1)
            return b""

        return self._bytes.sub(sub, value)

    def address(self, value: str) -> str:
        return self.aliases.get(value.lower(), value)

    def addresses(self, values: Iterable[str]) -> list[str]:
        return [self.address(v) for v in values]

    def json(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.json(v) for v in value]
        if isinstance(value, dict):
            return {k: self.json(v) for k, v in value.items()}
        return value

    def mentions(self, value: str | bytes) -> bool:
        if isinstance(value, bytes):
            return self._bytes is not None and any(
                m.group(1) is None or m.group(1).decode("utf-8", "replace").lower()
                in self.aliases for m in self._bytes.finditer(value))
        return self._text is not None and any(
            m.group(1) is None or m.group(1).lower() in self.aliases
            for m in self._text.finditer(value))


def bare_detail(detail: Mapping[str, Any], keep: Callable[[str], bool]) -> dict[str, Any]:
    """An erased ticket's event detail: numbers, booleans, vocabulary words, instants
    and the addresses ``keep`` accepts (staff); free text (subjects, reasons, headers)
    and every other address are left out."""
    def kept(v: Any) -> bool:
        if v is None or isinstance(v, bool | int | float):
            return True
        if isinstance(v, str):
            return bool(_VOCABULARY.match(v) or _INSTANT.match(v) or keep(v))
        return isinstance(v, list) and all(isinstance(x, str) and keep(x) for x in v)

    return {k: v for k, v in detail.items() if kept(v)}


def quotes(text: str, phrases: Iterable[str]) -> bool:
    """Whether ``text`` repeats one of ``phrases`` (lines a person wrote), ignoring the
    quote marks and spacing a mail client adds."""
    flat = " ".join(re.sub(r"^[>\s]+", "", line) for line in text.splitlines())
    flat = " ".join(flat.split()).casefold()
    return any(p in flat for p in phrases)


def phrases_of(texts: Iterable[str], min_length: int = 16) -> set[str]:
    """The lines of a person's texts long enough to recognise when quoted elsewhere."""
    out: set[str] = set()
    for text in texts:
        for line in text.splitlines():
            line = " ".join(line.lstrip("> ").split()).casefold()
            if len(line) >= min_length:
                out.add(line)
    return out
