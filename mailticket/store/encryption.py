"""Encryption at rest, at the database's edge: the check at start that the configured
keys open this database (``unlock``), and ``rotate``, which moves every sealed value to
the first key and seals what was stored plain (``mailticket db rotate-key``).

What the database keeps (``settings``): ``data_index_key``, the search index's key
sealed by a master key (opening it is the key check), and ``data_key_ids``, the master
keys values may still be sealed under.  ``data_rotation`` is a rotation's progress: each
batch of rows is committed with it, so a killed rotation resumes where it stopped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Connection, Table, exists, select
from sqlalchemy.orm import Session

from mailticket.clock import Clock
from mailticket.config import Config
from mailticket.store import sealing
from mailticket.store.db import Database
from mailticket.store.models import Base, FaqEntry, Message, Quarantine, Setting
from mailticket.store.sealing import Keyring, SealedBytes, SealedText, SealingError

INDEX_KEY = sealing.INDEX_KEY_SETTING
KEY_IDS = "data_key_ids"
PROGRESS = "data_rotation"
BATCH = 500


def keyring(config: Config) -> Keyring | None:
    """The configured master keys; None when encryption is off."""
    var = config.storage.encryption_key_env
    return sealing.parse_keys(os.environ.get(var), var) if var else None


def _get(s: Session, key: str) -> str | None:
    row = s.get(Setting, key)
    return None if row is None else row.value


def _put(s: Session, key: str, value: str | None) -> None:
    row = s.get(Setting, key)
    if value is None:
        if row is not None:
            s.delete(row)
    elif row is None:
        s.add(Setting(key=key, value=value))
    else:
        row.value = value
    s.flush()


def _ids(s: Session) -> list[str]:
    return [i for i in (_get(s, KEY_IDS) or "").split(",") if i]


def _missing(s: Session, keys: Keyring, var: str) -> None:
    missing = [i for i in _ids(s) if i not in keys.labels]
    if missing:
        raise SealingError(
            f"{var} lacks the key(s) {', '.join(missing)} that mail in this database is "
            f"encrypted with: put them back after the new key (comma-separated), run "
            f"`mailticket db rotate-key`, then remove them")


def _open_index_key(stored: str, keys: Keyring, var: str) -> bytes:
    blob = sealing.blob_of(stored)
    assert blob is not None
    try:
        return sealing.unseal(blob, keys)
    except SealingError:
        raise SealingError(
            f"{var} does not hold the key this database is encrypted with (key "
            f"{sealing.key_label(blob)}; given {', '.join(keys.labels)}): set it to that key, "
            f"or to the new key followed by that one to rotate") from None


def _sealed_index_key(index_key: bytes, keys: Keyring) -> str:
    return str(sealing.stored(sealing.seal(index_key.hex().encode(), keys.first), True))


def _holds_content(s: Session) -> bool:
    return bool(s.scalar(select(exists().where(Message.id.isnot(None))))
                or s.scalar(select(exists().where(Quarantine.id.isnot(None))))
                or s.scalar(select(exists().where(FaqEntry.id.isnot(None)))))


def unlock(db: Database, config: Config) -> Keyring | None:
    """Check the configured keys against the database and use them in this process.

    A wrong or missing key is a ``SealingError`` here, at start, naming the variable and
    the fix; a database used plain so far with encryption now configured must first be
    encrypted by ``rotate``.  A new first key is recorded before anything is sealed
    with it."""
    sealing.use(None)
    var = config.storage.encryption_key_env or "MAILTICKET_DATA_KEY"
    keys = keyring(config)
    with db.transaction() as s:
        stored = _get(s, INDEX_KEY)
        if keys is None:
            if stored is not None:
                raise SealingError(
                    "this database is encrypted at rest, but no key is configured: set "
                    f'[storage] encryption_key_env = "{var}" and {var} to its key(s)')
            return None
        _missing(s, keys, var)
        if stored is None:
            if _holds_content(s):
                raise SealingError(
                    f"encryption is configured ({var}) but this database holds mail stored "
                    "without it: run `mailticket db rotate-key` once (it encrypts what is "
                    "stored and can be resumed), then start again")
            index_key = os.urandom(sealing.KEY_BYTES)
            sealing.use(keys, index_key)
            _put(s, INDEX_KEY, _sealed_index_key(index_key, keys))
        else:
            index_key = bytes.fromhex(_open_index_key(stored, keys, var).decode())
        if keys.first.label not in _ids(s):
            _put(s, KEY_IDS, ",".join([*_ids(s), keys.first.label]))
    sealing.use(keys, index_key)
    return keys


# -- rotation -----------------------------------------------------------------------

@dataclass(frozen=True)
class SealedColumn:
    table: Table
    key: Column[Any]
    column: Column[Any]
    as_text: bool

    @property
    def name(self) -> str:
        return f"{self.table.name}.{self.column.name}"


def sealed_columns() -> list[SealedColumn]:
    """Every column the models seal, as (table, primary key, column)."""
    found = []
    for table in Base.metadata.sorted_tables:
        for col in table.columns:
            if isinstance(col.type, SealedBytes | SealedText):
                (key,) = table.primary_key.columns
                found.append(SealedColumn(table, key, col, isinstance(col.type, SealedText)))
    return found


def _batch(conn: Connection, col: SealedColumn, after: Any, limit: int, keys: Keyring
           ) -> tuple[Any, dict[str, int]]:
    """Seal or re-wrap one batch of a column's rows, read as stored (not opened)."""
    q = conn.dialect.identifier_preparer
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    table, key, name = q.format_table(col.table), q.format_column(col.key), \
        q.format_column(col.column)
    lock = " FOR UPDATE" if conn.dialect.name == "postgresql" else ""
    rows = conn.exec_driver_sql(
        f"SELECT {key}, {name} FROM {table} WHERE {key} > {mark} ORDER BY {key} "
        f"LIMIT {int(limit)}{lock}", (after,)).all()
    counts = {"rows": len(rows), "sealed": 0, "rewrapped": 0}
    changes = []
    first = keys.first.id
    as_text = col.as_text and not sealing.binary_text(conn.dialect.name)
    for pk, value in rows:
        if value is None or not value:
            continue
        if isinstance(value, memoryview):
            value = bytes(value)
        blob = sealing.blob_of(value)
        if blob is None:
            new = sealing.stored(sealing.seal(
                value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value,
                keys.first), as_text)
            counts["sealed"] += 1
        elif blob[:4] != first:
            new = sealing.stored(sealing.rewrap(blob, keys), as_text)
            counts["rewrapped"] += 1
        else:
            continue
        changes.append((new, pk))
    if changes:
        conn.exec_driver_sql(f"UPDATE {table} SET {name} = {mark} WHERE {key} = {mark}",
                             changes)
    return (rows[-1][0] if rows else None), counts


def _no_daemon(s: Session) -> None:
    """Turning encryption on rebuilds the index as hashes: a daemon started without the
    key would go on writing plain words into it."""
    from mailticket.daemons import running_daemons

    running = running_daemons(s)
    if running:
        raise SealingError(
            "stop the daemon before turning encryption on (running: " + ", ".join(
                f"{d.command} pid {d.pid} on {d.host}" for d in running) + "); start it "
            "again with the key once this command has encrypted the search index")


def _secure(s: Session) -> None:
    if s.get_bind().dialect.name == "sqlite":
        s.connection().exec_driver_sql("PRAGMA secure_delete=ON")


def rotate(db: Database, config: Config, batch: int = BATCH) -> Iterator[dict[str, Any]]:
    """Move every sealed value to the first key and seal every plain one, a committed
    batch at a time; yields the progress after each batch, the summary last.

    Turning encryption on for a database used plain starts with one transaction that
    makes the index key and rebuilds the search index as keyed hashes: after it the
    daemon may run with the key while the rest is sealed."""
    from mailticket.customers.forget import scrub
    from mailticket.search import index

    var = config.storage.encryption_key_env
    keys = keyring(config)
    if keys is None or var is None:
        raise SealingError('no key configured: set [storage] encryption_key_env = '
                           '"MAILTICKET_DATA_KEY" and that variable to a key '
                           f"(`{sealing.NEW_KEY_COMMAND}`)")
    sealing.use(keys)
    started = Clock().now()
    with db.transaction() as s:
        _secure(s)
        _missing(s, keys, var)
        stored = _get(s, INDEX_KEY)
        rebuilt = 0
        if stored is None:
            _no_daemon(s)
            index_key = os.urandom(sealing.KEY_BYTES)
            sealing.use(keys, index_key)
            rebuilt = index.rebuild(s.connection())
        else:
            index_key = bytes.fromhex(_open_index_key(stored, keys, var).decode())
        _put(s, INDEX_KEY, _sealed_index_key(index_key, keys))  # under the first key
        _put(s, KEY_IDS, ",".join(dict.fromkeys([*_ids(s), keys.first.label])))
        progress = json.loads(_get(s, PROGRESS) or "{}")
        resumed = progress.get("key") == keys.first.label
        if not resumed:
            progress = {"key": keys.first.label, "done": {}, "sealed": 0, "rewrapped": 0,
                        "rows": 0, "started": started.isoformat()}
        progress["index_rebuilt"] = progress.get("index_rebuilt", 0) + rebuilt
        _put(s, PROGRESS, json.dumps(progress))
    sealing.use(keys, index_key)
    for col in sealed_columns():
        while not progress["done"].get(col.name, {}).get("finished"):
            with db.transaction() as s:
                _secure(s)
                after = progress["done"].get(col.name, {}).get("after", 0)
                last, counts = _batch(s.connection(), col, after, batch, keys)
                for k in ("sealed", "rewrapped", "rows"):
                    progress[k] += counts[k]
                progress["done"][col.name] = ({"finished": True} if last is None
                                              else {"after": last})
                _put(s, PROGRESS, json.dumps(progress))
            yield {"column": col.name, **counts}
    with db.transaction() as s:
        _put(s, KEY_IDS, keys.first.label)
        _put(s, PROGRESS, None)
    scrub(db)  # SQLite: the plain pages zeroed, the WAL emptied
    yield {"key": keys.first.label, "resumed": resumed, "rows": progress["rows"],
           "sealed": progress["sealed"], "rewrapped": progress["rewrapped"],
           "index_rebuilt": progress["index_rebuilt"],
           "retired_keys": [k for k in keys.labels if k != keys.first.label]}
