"""The rows an ingest batch creates, as plain objects.

Processing reads and changes a new ticket, its participants and its messages many
times before they are written.  As ORM objects every attribute goes through
SQLAlchemy's instrumentation (a tenth of a millisecond per mail in all); these plain
objects carry the same attribute names, with every column set from the start (the
table's defaults applied), and ``Writes.write`` inserts them with one statement per
table.  Tickets that were already stored stay ORM objects; the code that reads a
ticket does not tell the two apart.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from importlib import import_module
from operator import itemgetter
from typing import Any, ClassVar

from sqlalchemy import Connection, Dialect, Table

from mailticket.store.models import Base, Contact, Message, Participant, Ticket


class Columns:
    """One table's columns and their defaults, as the session would apply them (a fresh
    list for a JSON list column, "" for text …)."""

    def __init__(self, model: type[Base], *, with_key: bool) -> None:
        self.table: Table = model.__table__  # type: ignore[assignment]
        self.keys: list[str] = []
        self.scalars: dict[str, Any] = {}
        self.factories: dict[str, Callable[[], Any]] = {}
        for col in self.table.columns:
            if col.primary_key and col.autoincrement is not False and not with_key:
                continue  # numbered by the database
            self.keys.append(col.key)
            d: Any = col.default  # a scalar or callable default: both carry .arg
            if d is not None and not d.is_scalar:
                empty = d.arg(None)
                # default=list / dict: the type itself, not SQLAlchemy's slower wrapper
                self.factories[col.key] = (type(empty) if empty == type(empty)() else
                                           partial(d.arg, None))
            else:
                self.scalars[col.key] = None if d is None else d.arg
        self.defaulted = set(self.factories) | {
            key for key, value in self.scalars.items() if value is not None}

    def defaults(self) -> dict[str, Any]:
        return {**self.scalars, **{key: make() for key, make in self.factories.items()}}

    def row(self, obj: object) -> dict[str, Any]:
        """The INSERT parameters of a record, an ORM object the session does not hold, or
        a dict of column values; a column left unset gets its default."""
        state = obj if isinstance(obj, dict) else obj.__dict__
        row = {key: state.get(key) for key in self.keys}
        for key, value in row.items():
            if value is None and key in self.defaulted:
                make = self.factories.get(key)
                row[key] = make() if make else self.scalars[key]
        return row


class _Insert:
    """One table's INSERT as the driver takes it, with SQLAlchemy's own conversion of
    each column's values (its dialect's bind processors) applied in one loop: its
    generic per-row parameter handling cost more than the database's insert."""

    _MARKS = {"qmark": "?", "format": "%s", "pyformat": "%s"}

    def __init__(self, table: Table, keys: tuple[str, ...], dialect: Dialect) -> None:
        q = dialect.identifier_preparer
        cols = [table.c[k] for k in keys]
        mark = self._MARKS[dialect.paramstyle]
        self.sql = (f"INSERT INTO {q.format_table(table)} "
                    f"({', '.join(q.format_column(c) for c in cols)}) "
                    f"VALUES ({', '.join([mark] * len(cols))})")
        processors = [c.type.dialect_impl(dialect).bind_processor(dialect) for c in cols]
        self.values = itemgetter(*keys) if len(keys) > 1 else lambda row: (row[keys[0]],)
        # Only the columns that need converting are visited per row.
        self.convert = [(i, proc) for i, proc in enumerate(processors) if proc is not None]

    def params(self, row: dict[str, Any]) -> tuple[Any, ...]:
        if not self.convert:
            return self.values(row)
        values = list(self.values(row))
        for i, proc in self.convert:
            if values[i] is not None:
                values[i] = proc(values[i])
        return tuple(values)


_INSERTS: dict[tuple[str, tuple[str, ...], str], _Insert] = {}


def insert_rows(conn: Connection, table: Table, rows: list[dict[str, Any]], *,
                unless_taken: str | None = None) -> None:
    """Insert rows (dicts with the same keys) with one ``executemany``; with
    ``unless_taken`` (a unique column), a row whose value there is stored is left out."""
    keys = tuple(rows[0])
    dialect = conn.dialect
    if dialect.paramstyle not in _Insert._MARKS:  # noqa: SLF001
        stmt: Any = table.insert()
        if unless_taken:  # SQLite's and PostgreSQL's dialects both have it
            stmt = import_module(f"sqlalchemy.dialects.{dialect.name}").insert(
                table).on_conflict_do_nothing(index_elements=[unless_taken])
        conn.execute(stmt, rows)
        return
    key = (table.name, keys, dialect.name)
    ins = _INSERTS.get(key) or _INSERTS.setdefault(key, _Insert(table, keys, dialect))
    sql = ins.sql + (f" ON CONFLICT ({unless_taken}) DO NOTHING" if unless_taken else "")
    conn.exec_driver_sql(sql, [ins.params(row) for row in rows])


class Record:
    """A row to be: attributes named like the model's columns, all of them set.  Each
    subclass declares its columns with their types (checked against the table when the
    class is made, so the two cannot drift apart)."""

    columns: ClassVar[Columns]
    model: ClassVar[type[Base]]
    with_key: ClassVar[bool] = False

    def __init_subclass__(cls) -> None:
        cls.columns = Columns(cls.model, with_key=cls.with_key)
        declared = set(cls.__annotations__)
        missing = set(cls.columns.keys) - declared
        if missing:
            raise TypeError(f"{cls.__name__} does not declare {sorted(missing)}")

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(self.columns.defaults())
        self.__dict__.update(values)


class NewTicket(Record):
    model = Ticket
    with_key = True

    id: int
    department: str
    subject: str
    customer: str
    customer_name: str
    state: str
    priority: str
    assignee: str | None
    language: str | None
    created_at: datetime
    updated_at: datetime
    clock_started_at: datetime | None
    warn_at: datetime | None
    due_at: datetime | None
    answered_at: datetime | None
    last_due_at: datetime | None
    escalation_level: int
    next_notice_at: datetime | None
    # The thread as processing sees it: what this batch adds, in order.
    messages: list[NewMessage | Message]
    participants: list[NewParticipant]

    def __init__(self, **values: Any) -> None:
        super().__init__(**values)
        self.messages = []
        self.participants = []


class NewMessage(Record):
    model = Message

    ticket_id: int | None
    direction: str
    kind: str
    message_id: str
    fingerprint: str | None
    in_reply_to: str | None
    references: list[str]
    from_addr: str
    from_name: str
    to: list[str]
    cc: list[str]
    subject: str
    date: datetime
    text: str
    attachments: list[dict[str, Any]]
    language: str | None
    verdict: str
    source: str
    raw: bytes


class NewParticipant(Record):
    model = Participant

    ticket_id: int
    address: str
    name: str
    role: str
    bouncing: bool


class NewContact(Record):
    model = Contact
    with_key = True

    address: str
    language: str | None
    updated_at: datetime


AnyTicket = Ticket | NewTicket
AnyMessage = Message | NewMessage
