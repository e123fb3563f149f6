"""Mail content sealed at rest: AES-GCM under a fresh data key per value, that data key
wrapped (AES key wrap, RFC 3394) by the master key.  Rotating the master key re-wraps
40 bytes per value; the mail itself is never encrypted again.

A sealed value starts with a marker, so values written before encryption was turned on
(plain) still read as they are.  Bytes: ``MAGIC`` + key id (4) + wrapped key (40) +
nonce (12) + ciphertext and tag; text: ``TEXT_MAGIC`` + the same in base64 (the
standard alphabet: twice as fast as the URL-safe one).

The search index gets keyed hashes of terms (``token``): keyed BLAKE2b under an index
key that is random, kept in the database sealed by the master key (so rotation does not
change a token), and whose opening at start is the check that the key is right.

One keyring per process (``use``): the column types (``SealedBytes``, ``SealedText``)
and the index read it, as the daemon and each command run one configuration.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import LargeBinary, Text, TypeDecorator

MAGIC = b"\x00MTS\x01"
TEXT_MAGIC = "\x01mts1:"
_ID, _WRAPPED, _NONCE = 4, 40, 12
_HEAD = _ID + _WRAPPED + _NONCE
KEY_BYTES = 32
INDEX_KEY_SETTING = "data_index_key"  # settings row: the search index's hash key, sealed
NEW_KEY_COMMAND = "mailticket db new-key"


class SealingError(Exception):
    """A key that is missing, malformed or wrong; the message is meant for the admin."""


class MasterKey:
    """One master key and its id: four bytes that name it in each value it wraps (an
    HMAC of the key, not a secret), computed once."""

    __slots__ = ("id", "key")

    def __init__(self, key: bytes) -> None:
        self.key = key
        self.id = hmac.new(key, b"mailticket key id", hashlib.sha256).digest()[:_ID]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MasterKey) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.id)

    @property
    def label(self) -> str:
        return self.id.hex()


@dataclass(frozen=True)
class Keyring:
    """The master keys: the first seals, every one opens."""

    keys: tuple[MasterKey, ...]

    @property
    def first(self) -> MasterKey:
        return self.keys[0]

    def get(self, key_id: bytes) -> MasterKey | None:
        return next((k for k in self.keys if k.id == key_id), None)

    @property
    def labels(self) -> list[str]:
        return [k.label for k in self.keys]


def new_key() -> str:
    """A fresh master key as the variable holds it."""
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode()


def parse_keys(value: str | None, variable: str) -> Keyring:
    """The comma-separated keys of ``variable``; an error naming the variable and the fix."""
    fix = f"generate a key with `{NEW_KEY_COMMAND}`"
    if not value or not value.strip():
        raise SealingError(f"[storage] encryption_key_env names {variable}, but {variable} "
                           f"is not set in the environment: set it to the key(s), comma-"
                           f"separated ({fix})")
    keys = []
    parts = [p.strip() for p in value.split(",") if p.strip()]
    for n, part in enumerate(parts, 1):
        try:
            raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != KEY_BYTES:
            raise SealingError(f"{variable}: key {n} of {len(parts)} is not {KEY_BYTES} bytes "
                               f"in URL-safe base64 ({fix})")
        keys.append(MasterKey(raw))
    return Keyring(tuple(keys))


# -- values ---------------------------------------------------------------------------

class _AES:
    """cryptography's AES-GCM and key wrap, imported on the first value sealed or opened
    (``_aes``): a daemon that stores mail plain (the default) never carries them (8.5 MB)."""

    def __init__(self) -> None:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives import keywrap
        from cryptography.hazmat.primitives.ciphers import aead

        self.gcm = aead.AESGCM
        self.wrap, self.unwrap = keywrap.aes_key_wrap, keywrap.aes_key_unwrap
        self.unwrap_failed = keywrap.InvalidUnwrap
        self.failed = (keywrap.InvalidUnwrap, InvalidTag)


@cache
def _aes() -> _AES:
    return _AES()


def seal(data: bytes, key: MasterKey) -> bytes:
    """``data`` sealed under a new data key wrapped by ``key`` (without the marker)."""
    aes = _aes()
    fresh = os.urandom(KEY_BYTES + _NONCE)  # one call: a third of the cost of a seal
    dek, nonce = fresh[:KEY_BYTES], fresh[KEY_BYTES:]
    return key.id + aes.wrap(key.key, dek) + nonce + aes.gcm(dek).encrypt(nonce, data, None)


def unseal(blob: bytes, keys: Keyring | None) -> bytes:
    key = _key_for(blob, keys)
    aes = _aes()
    try:
        dek = aes.unwrap(key.key, blob[_ID:_ID + _WRAPPED])
        nonce = blob[_ID + _WRAPPED:_HEAD]
        return aes.gcm(dek).decrypt(nonce, blob[_HEAD:], None)
    except aes.failed:
        raise SealingError(f"a value sealed under key {key.label} does not open: it was "
                           "altered, or the key is not the one it was sealed with") from None


def rewrap(blob: bytes, keys: Keyring) -> bytes:
    """The same ciphertext with its data key wrapped by the first key."""
    key = _key_for(blob, keys)
    aes = _aes()
    try:
        dek = aes.unwrap(key.key, blob[_ID:_ID + _WRAPPED])
    except aes.unwrap_failed:
        raise SealingError(f"a data key wrapped under key {key.label} does not open") from None
    return keys.first.id + aes.wrap(keys.first.key, dek) + blob[_ID + _WRAPPED:]


def key_label(blob: bytes) -> str:
    return blob[:_ID].hex()


def _key_for(blob: bytes, keys: Keyring | None) -> MasterKey:
    if len(blob) < _HEAD + 16:
        raise SealingError("a sealed value is truncated")
    key = keys.get(blob[:_ID]) if keys else None
    if key is None:
        given = ", ".join(keys.labels) if keys else "none"
        raise SealingError(f"a value is sealed under key {key_label(blob)}, which is not "
                           f"among the configured keys ({given})")
    return key


def blob_of(value: bytes | str) -> bytes | None:
    """The sealed part of a stored value; None when it is plain."""
    if isinstance(value, str):
        if value.startswith(TEXT_MAGIC):
            return binascii.a2b_base64(value[len(TEXT_MAGIC):])
        return None
    if value[:len(MAGIC)] == MAGIC:
        return bytes(value[len(MAGIC):])
    return None


def stored(blob: bytes, as_text: bool) -> bytes | str:
    """A sealed value as a column keeps it: bytes, or base64 text where the column must
    hold text (``as_text``: a text column on PostgreSQL)."""
    if as_text:
        return TEXT_MAGIC + binascii.b2a_base64(blob, newline=False).decode("ascii")
    return MAGIC + blob


def binary_text(dialect_name: str) -> bool:
    """Whether sealed text is stored as bytes: SQLite keeps a BLOB in a TEXT column
    as it is (no base64: a third smaller and cheaper); PostgreSQL's text cannot."""
    return dialect_name == "sqlite"


# -- the process's keyring ------------------------------------------------------------

@dataclass
class _Active:
    keys: Keyring | None = None
    index_key: bytes | None = None


_active = _Active()
_tokens: dict[str, str] = {}
_LETTERS = str.maketrans("0123456789abcdef", "abcdefghijklmnop")


def use(keys: Keyring | None, index_key: bytes | None = None) -> None:
    """Seal with ``keys`` from now on in this process (None: store plain, open only plain)."""
    _active.keys, _active.index_key = keys, index_key
    _tokens.clear()


def active() -> Keyring | None:
    return _active.keys


def hashing() -> bool:
    return _active.index_key is not None


def token(term: str) -> str:
    """A term as the encrypted index stores it: 16 letters a–p (one token to both engines'
    tokenizers) of its keyed hash; cached, as mails repeat their words."""
    found = _tokens.get(term)
    if found is None:
        assert _active.index_key is not None
        digest = hashlib.blake2b(term.encode(), key=_active.index_key, digest_size=8)
        found = digest.hexdigest().translate(_LETTERS)
        if len(_tokens) > 200_000:
            _tokens.clear()
        _tokens[term] = found
    return found


def seal_bytes(value: bytes) -> bytes:
    keys = _active.keys
    if keys is None or not value:
        return value
    return MAGIC + seal(bytes(value), keys.first)


def open_bytes(value: bytes) -> bytes:
    if value[:len(MAGIC)] != MAGIC:
        return value
    return unseal(bytes(value[len(MAGIC):]), _active.keys)


def seal_text(value: str, as_bytes: bool = False) -> str | bytes:
    keys = _active.keys
    if keys is None or not value:
        return value
    return stored(seal(value.encode("utf-8", "surrogatepass"), keys.first), not as_bytes)


def open_text(value: str | bytes) -> str:
    if isinstance(value, str):
        if not value.startswith(TEXT_MAGIC):
            return value
        blob = binascii.a2b_base64(value[len(TEXT_MAGIC):])
    elif value[:len(MAGIC)] == MAGIC:
        blob = bytes(value[len(MAGIC):])
    else:
        return bytes(value).decode("utf-8", "surrogatepass")
    return unseal(blob, _active.keys).decode("utf-8", "surrogatepass")


class SealedBytes(TypeDecorator[bytes]):
    """Bytes sealed when the process has a keyring; plain ones read as they are."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: bytes | None, dialect: Any) -> bytes | None:
        return None if value is None else seal_bytes(value)

    def process_result_value(self, value: bytes | None, dialect: Any) -> bytes | None:
        return None if value is None else open_bytes(value)


class SealedText(TypeDecorator[str]):
    """Text sealed when the process has a keyring; plain text reads as it is."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> Any:
        return None if value is None else seal_text(value, binary_text(dialect.name))

    def process_result_value(self, value: str | bytes | None, dialect: Any) -> str | None:
        return None if value is None else open_text(value)
