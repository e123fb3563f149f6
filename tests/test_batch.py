"""The poller hands mails over in batches (one per fetch), one transaction each.  Mails of one batch
must behave exactly as if they had come one by one: a reply to a mail of the same batch
joins its ticket, a duplicate is dropped, the per-sender auto-response limit counts the
batch's own auto-responses, and a mail that breaks is quarantined alone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from mailticket.clock import FixedClock
from mailticket.mail.tokens import token_address
from mailticket.store.batch import BatchReads
from mailticket.store.models import (
    Contact,
    Event,
    MailboxState,
    Message,
    OutboxItem,
    Participant,
    Ticket,
)
from tests.corpora import HELPDESK_DOMAIN, throwaway_app

SUPPORT = f"support@{HELPDESK_DOMAIN}"
ALICE = f"alice@{HELPDESK_DOMAIN}"


def raw(n: int, sender: str, subject: str, body: str = "Hello, my printer is broken.",
        reply_to: str | None = None, name: str = "Customer", cc: str | None = None,
        lang: str | None = "en") -> bytes:
    head = (f"From: {name} <{sender}>\r\nTo: {SUPPORT}\r\nSubject: {subject}\r\n"
            f"Date: Mon, 23 Nov 2026 10:00:{n:02d} +0100\r\n"
            f"Message-ID: <m{n}@customer.example>\r\n")
    head += f"Content-Language: {lang}\r\n" if lang else ""
    head += f"Cc: {cc}\r\n" if cc else ""
    if reply_to:
        head += f"In-Reply-To: {reply_to}\r\nReferences: {reply_to}\r\n"
    return (head + "\r\n" + body + "\r\n").encode()


@pytest.fixture
def url(db_url: str | None) -> str | None:
    return db_url


def ingest(app, mails: list[bytes], last_uid: int = 0):
    def advance(s):
        state = s.scalar(select(MailboxState)) or MailboxState(
            department="support", folder="INBOX", last_uid=0)
        state.last_uid = last_uid + len(mails)
        s.add(state)

    return app.ingest_batch([(m, f"imap:support:1:{last_uid + i + 1}")
                             for i, m in enumerate(mails)], department="support", also=advance)


def auto_responses(app) -> list[tuple[int, list[str]]]:
    with app.db.read() as s:
        return [(t, r) for t, r in s.execute(
            select(OutboxItem.ticket_id, OutboxItem.rcpt_to)
            .where(OutboxItem.kind == "auto_response").order_by(OutboxItem.id))]


@pytest.fixture
def one_go(caplog):
    """Asserts afterwards that every batch went through in one go (no mail-by-mail rerun,
    which would hide a mistake of the batch's own bookkeeping)."""
    yield
    assert not [r for r in caplog.get_records("call") if "mail by mail" in r.getMessage()]


def test_a_batch_threads_dedupes_and_numbers_like_single_mails(tmp_path, url, one_go):
    app = throwaway_app(tmp_path, url=url)
    first = raw(1, "ann@customer.example", "Printer broken")
    outcomes = ingest(app, [
        first,
        raw(2, "ann@customer.example", "Re: Printer broken", "Forgot: it is the HP one.",
            reply_to="<m1@customer.example>"),
        raw(3, "bo@customer.example", "Invoice question"),
        first,  # the same mail fetched twice in one batch
        raw(4, "cy@customer.example", "Password reset"),
    ])
    assert [o.action for o in outcomes] == [
        "new_ticket", "follow_up", "new_ticket", "duplicate", "new_ticket"]
    ann, bo, cy = outcomes[0].ticket_id, outcomes[2].ticket_id, outcomes[4].ticket_id
    assert outcomes[1].ticket_id == ann
    assert len({ann, bo, cy}) == 3 and ann < bo < cy
    # Numbers keep counting after the batch, as single mails would have them.
    more = ingest(app, [raw(5, "di@customer.example", "Hi")], last_uid=5)
    assert more[0].ticket_id == cy + 1
    assert auto_responses(app) == [(ann, ["ann@customer.example"]),
                                   (bo, ["bo@customer.example"]),
                                   (cy, ["cy@customer.example"]),
                                   (cy + 1, ["di@customer.example"])]
    with app.db.read() as s:
        assert s.scalar(select(func.count()).select_from(Message)
                        .where(Message.ticket_id == ann, Message.direction == "in")) == 2
        assert s.scalar(select(MailboxState.last_uid)) == 6
    app.close()


def test_the_auto_response_limit_counts_the_batch_itself(tmp_path, url, one_go):
    app = throwaway_app(tmp_path, url=url)  # limit: 3 per sender per day
    outcomes = ingest(app, [raw(n, "storm@customer.example", f"Question {n}")
                            for n in range(1, 6)])
    assert [o.action for o in outcomes] == ["new_ticket"] * 5
    assert [t for t, _ in auto_responses(app)] == [o.ticket_id for o in outcomes[:3]]
    app.close()


def test_a_mail_that_breaks_is_quarantined_alone(tmp_path, url, caplog):
    tpl = tmp_path / "tpl" / "en"
    tpl.mkdir(parents=True)
    # A template that fails for one customer only: the batch's other mails must not care.
    (tpl / "auto_response.txt.j2").write_text(
        "{% if customer_name == 'Broken' %}{{ no_such_variable }}{% endif %}"
        "We got it: {{ ref }}\n")
    app = throwaway_app(tmp_path / "app", extra=f'template_dir = "{tmp_path}/tpl"', url=url)
    outcomes = ingest(app, [
        raw(1, "ann@customer.example", "One"),
        raw(2, "bad@customer.example", "Two", name="Broken"),
        raw(3, "cy@customer.example", "Three"),
    ])
    assert [o.action for o in outcomes] == ["new_ticket", "quarantined", "new_ticket"]
    assert "no_such_variable" in outcomes[1].reason
    assert "processing it again mail by mail" in caplog.text
    with app.db.read() as s:
        assert s.scalars(select(Ticket.customer).order_by(Ticket.id)).all() == [
            "ann@customer.example", "cy@customer.example"]
        assert s.scalar(select(MailboxState.last_uid)) == 3
    assert [r for _, r in auto_responses(app)] == [["ann@customer.example"],
                                                    ["cy@customer.example"]]
    app.close()


def _stored(app) -> dict[str, list[tuple]]:
    """Every row the mails left, in the order a reader sees them, without what is random
    (Message-IDs of outgoing mail, hence their bytes) or numbered by the database."""
    def rows(model, skip=("id",)):
        cols = [c for c in model.__table__.columns if c.key not in skip]
        with app.db.read() as s:
            return [tuple(r) for r in s.execute(
                select(*cols).order_by(*model.__table__.primary_key))]
    outgoing = ("id", "message_id", "raw")
    return {"tickets": rows(Ticket, skip=()), "participants": rows(Participant),
            "messages": rows(Message, skip=outgoing), "outbox": rows(OutboxItem, skip=outgoing),
            "events": rows(Event), "contacts": rows(Contact, skip=())}


def test_a_batch_stores_what_the_same_mails_one_by_one_store(tmp_path):
    """New tickets, their participants, threads, contacts, queued mail and events are
    written by the batch itself: row for row the same as mail by mail."""
    mails = [
        raw(1, "ann@customer.example", "Printer broken", cc="bo@customer.example"),
        # A reply in the same batch from someone new, who joins the ticket.
        raw(2, "carl@customer.example", "Re: Printer broken", "Carl here, same problem.",
            reply_to="<m1@customer.example>"),
        raw(3, "dora@customer.example", "Hej", "Hej! Min skrivare fungerar inte längre, "
            "kan ni hjälpa mig med det snälla?", lang=None),
        raw(4, "ann@customer.example", "Re: Printer broken", "Still broken, any news?",
            reply_to="<m2@customer.example>"),
    ]
    batched = throwaway_app(tmp_path / "batched")
    single = throwaway_app(tmp_path / "single")
    for app in (batched, single):
        app.clock = FixedClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))  # before first use
    ingest(batched, mails)
    for i, m in enumerate(mails):
        assert single.ingest(m, department="support", source=f"imap:support:1:{i + 1}")
    got, want = _stored(batched), _stored(single)
    assert got == want
    # And what a reader of the thread sees: both mails in ticket 1, in order, three
    # participants; the notification of the reply shows the first mail in its history.
    assert [r[1] for r in got["participants"]] == [
        "ann@customer.example", "bo@customer.example", "carl@customer.example",
        "dora@customer.example"]
    thread = [r for r in got["messages"] if r[0] == 1 and r[1] == "in"]
    assert [r[6] for r in thread] == [
        "ann@customer.example", "carl@customer.example", "ann@customer.example"]
    with batched.db.read() as s:
        texts = s.scalars(select(Message.text).where(
            Message.kind == "notification", Message.ticket_id == 1).order_by(Message.id)).all()
    assert "Carl here" in texts[2] and "Hello, my printer is broken" in texts[2]
    assert ("dora@customer.example", "sv") in [r[:2] for r in got["contacts"]]
    batched.close()
    single.close()


def test_a_notification_shows_the_last_five_things_people_wrote(tmp_path):
    """What we sent in between (auto-response, notifications) takes no place in it."""
    app = throwaway_app(tmp_path)
    ingest(app, [raw(1, "ann@customer.example", "Printer broken", "Message number 1.")])
    previous = "<m1@customer.example>"
    for n in range(2, 8):  # one mail per batch: each reads the thread back from the database
        ingest(app, [raw(n, "ann@customer.example", "Re: Printer broken",
                         f"Message number {n}.", reply_to=previous)], last_uid=n - 1)
        previous = f"<m{n}@customer.example>"
    with app.db.read() as s:
        last = s.scalars(select(Message.text).where(Message.kind == "notification")
                         .order_by(Message.id.desc())).first()
    history = last.split("Earlier in this ticket:", 1)[1]
    assert [n for n in range(1, 8) if f"Message number {n}." in history] == [2, 3, 4, 5, 6]
    app.close()


def test_what_a_batch_adds_to_a_stored_thread_stays_in_it(tmp_path):
    """Two agent mails through the ticket's token address in one batch, nothing else
    naming the ticket: the note's notification shows the rejected reply before it, as
    when the two come one by one."""
    texts = []
    for batched in (True, False):
        app = throwaway_app(tmp_path / str(batched))
        app.clock = FixedClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
        ingest(app, [raw(1, "ann@customer.example", "Printer broken")])
        token = token_address(SUPPORT, 1, app.secret)
        agent = [raw(n, ALICE, "Re: [Support #1] Printer broken", body).replace(
                     f"To: {SUPPORT}".encode(), f"To: {token}".encode())
                 for n, body in ((2, "#frobnicate\r\nPlease try again."),
                                 (3, "#note\r\nInternal: checked the driver."))]
        if batched:
            ingest(app, agent, last_uid=1)
        else:
            for n, m in enumerate(agent, 2):
                app.ingest(m, department="support", source=f"imap:support:1:{n}")
        with app.db.read() as s:
            note = s.scalars(select(Message.text).where(
                Message.kind == "note", Message.direction == "out")).first()
        texts.append(note.split("Earlier in this ticket:", 1)[1])
        app.close()
    assert "Please try again" in texts[0]
    assert texts[0] == texts[1]


def test_a_failed_mail_leaves_nothing_in_the_threads_of_the_mails_after_it(
        tmp_path, monkeypatch):
    """A follow-up that breaks after adding a Cc to a stored ticket (and before changing
    the ticket itself) is quarantined; the next mail of the batch with the same Cc adds
    it for real: the first one's addition lived only in memory.  The batches are kept
    alive here, as anything might keep them."""
    app = throwaway_app(tmp_path)
    ingest(app, [raw(1, "ann@customer.example", "Printer broken")])
    language = app.pipeline._language

    def breaks(at, *args, **kwargs):
        if "BOOM" in at.mail.text:
            raise RuntimeError("choosing the language broke")
        return language(at, *args, **kwargs)

    monkeypatch.setattr(app.pipeline, "_language", breaks)
    alive = []
    made = BatchReads.__init__
    monkeypatch.setattr(BatchReads, "__init__", lambda self, *a, **k: (alive.append(self),
                                                                   made(self, *a, **k))[1])
    outcomes = ingest(app, [
        raw(2, "ann@customer.example", "Re: Printer broken", "BOOM",
            reply_to="<m1@customer.example>", cc="cy@customer.example"),
        raw(3, "ann@customer.example", "Re: Printer broken", "Cy is in copy now.",
            reply_to="<m1@customer.example>", cc="cy@customer.example"),
    ], last_uid=1)
    assert [o.action for o in outcomes] == ["quarantined", "follow_up"]
    with app.db.read() as s:
        assert s.scalars(select(Participant.address).order_by(Participant.id)).all() == [
            "ann@customer.example", "cy@customer.example"]
        notes = s.scalars(select(Message.text).where(Message.kind == "notification")
                          .order_by(Message.id.desc())).first()
    assert "BOOM" not in notes  # the quarantined mail is in no history
    app.close()


def test_a_reply_fetched_before_its_original_joins_its_ticket(tmp_path, url, one_go):
    """Mailboxes do not promise delivery order: within a batch the original is handled
    first, and the outcomes still come back in the order the mails were given."""
    app = throwaway_app(tmp_path, url=url)
    outcomes = ingest(app, [
        raw(2, "ann@customer.example", "Re: Printer broken", "Forgot: it is the HP one.",
            reply_to="<m1@customer.example>"),
        raw(3, "bo@customer.example", "Invoice question"),
        raw(1, "ann@customer.example", "Printer broken"),
    ])
    assert [(o.action, o.message_id) for o in outcomes] == [
        ("follow_up", "<m2@customer.example>"), ("new_ticket", "<m3@customer.example>"),
        ("new_ticket", "<m1@customer.example>")]
    assert outcomes[0].ticket_id == outcomes[2].ticket_id != outcomes[1].ticket_id
    # Only the reply waited: the others kept their order, and one auto-response each.
    assert [t for t, _ in auto_responses(app)] == [outcomes[1].ticket_id,
                                                   outcomes[2].ticket_id]
    app.close()
