"""What a transaction creates waits in its ``Writes`` and is written together at the end,
or not at all; a record declares every column of its table; and the IMAP poller hands
the heap back after each batch it stores."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from mailticket.ingest import imap
from mailticket.memory import BIG_MAIL
from mailticket.store.db import Database
from mailticket.store.models import Event, Message, Ticket
from mailticket.store.records import NewMessage, Record
from mailticket.store.writes import writing
from tests.conftest import mail

NOW = datetime(2026, 11, 23, 10, tzinfo=UTC)


@pytest.fixture
def db(db_url, tmp_path):
    database = Database(db_url or f"sqlite:///{tmp_path}/w.db")
    database.upgrade()
    yield database
    database.dispose()


def _ticket(writes, subject="Printer"):
    from mailticket.store.records import NewTicket

    t = NewTicket(id=writes.new_ticket_id(), department="support", subject=subject,
                  customer="ann@x.example", created_at=NOW, updated_at=NOW)
    writes.add_ticket(t)
    return t


def test_what_a_block_creates_is_written_at_its_end_in_order(db):
    with db.transaction() as s, writing(s) as w:
        t = _ticket(w)
        w.event(t.id, "created", NOW, "ann@x.example", message_id="<m1@x>")
        w.add_message(t, dict(direction="in", kind="customer", message_id="<m1@x>",
                              date=NOW, raw=b"x"))
        w.event(t.id, "customer_message", NOW, "ann@x.example")
        assert s.scalar(select(Event.id)) is None  # held, not yet written
        assert [m.message_id for m in t.messages] == ["<m1@x>"]  # the thread shows it
    with db.read() as s:
        assert [(e.kind, e.actor, e.detail) for e in s.scalars(
            select(Event).order_by(Event.id))] == [
            ("created", "ann@x.example", {"message_id": "<m1@x>"}),
            ("customer_message", "ann@x.example", {})]
        [ticket] = s.scalars(select(Ticket)).all()
        assert (ticket.state, ticket.priority, ticket.subject) == ("new", "normal", "Printer")
        assert s.scalars(select(Message.message_id)).all() == ["<m1@x>"]


def test_a_block_that_raises_writes_nothing(db):
    with pytest.raises(RuntimeError), db.transaction() as s, writing(s) as w:
        t = _ticket(w)
        w.event(t.id, "created", NOW)
        raise RuntimeError("the command failed")
    with db.read() as s:
        assert s.scalars(select(Event)).all() == []
        assert s.scalars(select(Ticket)).all() == []


def test_a_record_must_declare_every_column_of_its_table():
    with pytest.raises(TypeError, match=r"declare \['verdict'\]"):
        class Incomplete(Record):  # every Message column but one
            model = Message
            __annotations__ = {k: "object" for k in NewMessage.columns.keys
                               if k != "verdict"}


@pytest.mark.integration
def test_the_poller_gives_the_heap_back_after_each_batch(make_world, monkeypatch):
    w = make_world()
    trims: list[int] = []
    monkeypatch.setattr(imap, "trim_heap", trims.append)
    monkeypatch.setattr(imap, "FETCH_BATCH", 2)  # two batches for three mails
    for i in range(3):
        m = mail(f"c{i}@{w.domain}", w.addr("support"), f"Dump {i}", "The log is attached.")
        m.add_attachment(os.urandom(BIG_MAIL // 2), maintype="application",
                         subtype="octet-stream", filename="log.bin")
        w.deliver("support", m)
    w.poll()
    assert len(trims) == 2, trims
    assert trims[0] > BIG_MAIL > trims[1] > BIG_MAIL // 2  # each batch's bytes
