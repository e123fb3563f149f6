"""Mailbox leases: the even division among live daemons (pure), and the fence that keeps
a daemon that lost a mailbox mid-poll from committing the batch it fetched (real
Dovecot, SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from mailticket.app import App
from mailticket.clock import Clock
from mailticket.daemons import Registry
from mailticket.ingest.imap import ImapPoller
from mailticket.leases import MailboxLeases, plan, share
from mailticket.store.models import DaemonRecord, MailboxState, Message, OutboxItem, Ticket
from tests.conftest import mail


@pytest.mark.parametrize(("daemons", "mailboxes", "shares"), [
    ([7], 4, [4]),
    ([3, 9], 4, [2, 2]),
    ([3, 9, 12], 4, [2, 1, 1]),  # the oldest takes the rest
    ([12, 3, 9], 4, [1, 2, 1]),  # by id, not by the order they are listed in
    ([1, 2, 3, 4, 5], 4, [1, 1, 1, 1, 0]),
    ([1, 2], 0, [0, 0]),
])
def test_mailboxes_are_shared_evenly_the_oldest_taking_the_rest(daemons, mailboxes, shares):
    got = [share(daemons, d, mailboxes) for d in daemons]
    assert got == shares and sum(got) == mailboxes


def test_a_daemon_not_among_the_live_ones_holds_nothing():
    assert share([1, 2], 3, 4) == 0


def test_a_daemon_over_its_share_lets_go_of_the_rest_and_takes_nothing():
    release, take = plan(["d", "a", "c"], ["b"], 2, me=1)
    assert (release, take) == (["d"], [])


def test_a_daemon_under_its_share_tries_every_free_mailbox_in_its_own_order():
    release, take = plan(["a"], ["b", "c", "e"], 3, me=1)
    assert release == [] and sorted(take) == ["b", "c", "e"]
    orders = {tuple(plan([], ["b", "c", "e", "f"], 2, me=me)[1]) for me in range(1, 9)}
    assert len(orders) > 1, "every daemon would race for the same mailbox first"


def test_at_its_share_a_daemon_changes_nothing():
    assert plan(["a", "b"], ["c"], 2, me=5) == ([], [])


def _leases(app: App, departments: list[str]) -> MailboxLeases:
    registry = Registry(app.db, "run", interval=1.0, dead_after=30.0)
    registry.register()  # no heartbeat thread: the test says who is alive
    leases = MailboxLeases(app.db, registry, departments, lambda d: None, lambda d: None)
    leases.prepare()
    return leases


def _silence(app: App, holder: int) -> None:
    """As if ``holder`` froze: its heartbeat a minute old."""
    with app.db.transaction() as s:
        s.execute(update(DaemonRecord).where(DaemonRecord.id == holder).values(
            heartbeat_at=Clock().now() - timedelta(minutes=1)))


def test_a_batch_fetched_under_a_lease_lost_meanwhile_commits_nothing(make_world, db_url):
    """Daemon A fetches a batch; before it commits, A is taken for dead and B takes the
    mailbox (as when A was paused past its lease).  A's batch rolls back: no ticket, no
    auto-response queued, the watermark unmoved; B then stores each mail once."""
    w = make_world(db_url=db_url)
    for i in range(3):
        w.deliver("support", mail(f"f{i}@{w.domain}", w.addr("support"), f"Fenced {i}", "Hi."))
    dept = w.config.department("support")
    b_app = App(w.config)
    try:
        a = _leases(w.app, ["support"])
        a.round()
        assert a.epoch("support") == 1
        b = _leases(b_app, ["support"])
        b.round()
        assert b.epoch("support") is None, "a live daemon's mailbox was taken"

        poller = ImapPoller(w.app, dept, leases=a)
        store = w.app.ingest_batch

        def paused_before_commit(*args, **kwargs):
            _silence(w.app, a.registry.id)  # A stalls between its fetch and its commit
            b.round()
            assert b.epoch("support") == 2
            return store(*args, **kwargs)

        w.app.ingest_batch = paused_before_commit  # type: ignore[method-assign]
        assert poller.run() == 0
        with w.app.db.read() as s:
            assert s.scalar(select(func.count()).select_from(Ticket)) == 0
            assert s.scalar(select(func.count()).select_from(OutboxItem)) == 0
            state = s.scalar(select(MailboxState).where(MailboxState.department == "support"))
            assert state is not None and state.last_uid == 0
        assert poller.failures == 0, "a lost lease is no IMAP failure"

        assert ImapPoller(b_app, dept, leases=b).poll_once() == 3
        with w.app.db.read() as s:
            assert sorted(s.scalars(select(Ticket.subject))) == [f"Fenced {i}" for i in range(3)]
            assert s.scalar(select(func.count()).select_from(Message).where(
                Message.direction == "in")) == 3
    finally:
        b_app.close()


def test_a_daemon_taken_for_dead_polls_nothing_until_it_holds_the_mailbox_again(make_world,
                                                                                db_url):
    """A poll that starts under a lease lost since does not fetch; a round gives A its
    share back (a new epoch), and its poll works again."""
    w = make_world(db_url=db_url)
    w.deliver("sales", mail(f"g@{w.domain}", w.addr("sales"), "Later", "Hi."))
    a = _leases(w.app, ["sales", "support"])
    a.round()
    assert (a.epoch("sales"), a.epoch("support")) == (1, 1)
    _silence(w.app, a.registry.id)
    b_app = App(w.config)
    try:
        b = _leases(b_app, ["sales", "support"])
        b.round()  # A is silent: B alone among the live, takes both
        assert (b.epoch("sales"), b.epoch("support")) == (2, 2)
        poller = ImapPoller(w.app, w.config.department("sales"), leases=a)
        assert poller.run() == 0
        a.registry.beat()  # A wakes up: both live again, one mailbox each
        b.round()
        a.round()
        b.round()  # B let one go; now A takes it
        a.round()
        held = {"a": sorted(a.held), "b": sorted(b.held)}
        assert sorted(held["a"] + held["b"]) == ["sales", "support"], held
        assert len(held["a"]) == len(held["b"]) == 1, held
        if "sales" in a.held:
            assert a.epoch("sales") == 3
            assert poller.run() == 1
        else:
            assert ImapPoller(b_app, w.config.department("sales"), leases=b).run() == 1
    finally:
        b_app.close()


def test_the_daemons_transaction_left_idle_is_ended_by_postgresql(pg_url):
    """A frozen daemon's open transaction (its locks, its uncommitted mails' unique keys)
    is ended by the server after the limit the daemon sets on its own connections."""
    import time

    from sqlalchemy.exc import DBAPIError

    from mailticket.app import Step, decide
    from mailticket.store.db import Database

    db = Database(pg_url)
    db.end_stalled_transactions(1.0)
    try:
        with db.engine.connect() as c:
            assert c.exec_driver_sql("SHOW idle_in_transaction_session_timeout").scalar() == "1s"
        with pytest.raises(DBAPIError) as ended, db.transaction() as s:
            s.execute(select(1))
            time.sleep(2.0)  # frozen inside the transaction
            s.execute(select(1))
        # Not the mail's fault: its batch is tried again, never quarantined.
        assert decide(ended.value, 0, lambda: True) is Step.RAISE
        with db.transaction() as s:  # the pool gives a live connection again
            assert s.execute(select(1)).scalar() == 1
    finally:
        db.dispose()
