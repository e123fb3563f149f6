"""The application: config, database, clock and pipeline wired once, used by the
daemon and the CLI alike.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable, Sequence
from enum import Enum
from functools import cached_property, partial
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError, InternalError, OperationalError

from mailticket.clock import Clock
from mailticket.config import Config
from mailticket.sla.book import BUILT, INFO_KEY, Book
from mailticket.store import sealing
from mailticket.store.db import Database
from mailticket.store.sealing import INDEX_KEY_SETTING

# The pipeline, templates, workers and mailers are imported where first used: a CLI
# command that only reads (``search``, ``tickets``) never loads Jinja, the parsers or
# imapclient (``bench/startup.py``).
if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from mailticket.feedback.asking import Asker
    from mailticket.incoming.prepare import Prepared
    from mailticket.ingest.workers import ParsePool
    from mailticket.outgoing.outbox import Outbox
    from mailticket.outgoing.templates import Templates
    from mailticket.pipeline import Outcome, Pipeline
    from mailticket.sla.escalation import Escalator

log = logging.getLogger("mailticket.ingest")


class SchemaOutdated(Exception):
    pass


_TRANSIENT = ("locked", "busy", "timeout", "could not connect", "connection", "terminating",
              "server closed", "deadlock", "could not serialize", "disk i/o", "database or disk")


def transient(e: OperationalError | InternalError) -> bool:
    """A database that is busy, locked or gone: not the mail's fault, try it again later."""
    text = str(e.orig if e.orig is not None else e).lower()
    return bool(e.connection_invalidated) or any(t in text for t in _TRANSIENT)


class Step(Enum):
    """What to do with a mail whose processing raised."""
    RETRY = "retry"  # a race with another daemon: go again, the duplicate check sees it
    RAISE = "raise"  # not the mail's fault (the database): it is tried again later
    QUARANTINE = "quarantine"  # the mail broke the pipeline: keep it, move on


def decide(e: Exception, attempt: int, database_answers: Callable[[], bool]) -> Step:
    """Retry, raise or quarantine, for the ``attempt``-th try (0 first) failing with ``e``.

    Another poller storing the same Message-ID a moment ago is retried once; a database
    that is busy, locked or down raises (``database_answers`` is asked only for an error
    that does not say so itself), and so does a mailbox lease lost meanwhile (another
    daemon stores this mail); anything else is the mail's doing."""
    from mailticket.leases import LeaseLost  # only when something failed

    if isinstance(e, LeaseLost):
        return Step.RAISE
    if isinstance(e, IntegrityError):
        return Step.RAISE if attempt else Step.RETRY
    if isinstance(e, OperationalError) and (transient(e) or not database_answers()):
        return Step.RAISE
    # PostgreSQL ending a transaction left idle too long (a frozen daemon's, see
    # Database.end_stalled_transactions) says so as an InternalError.
    if isinstance(e, InternalError) and transient(e):
        return Step.RAISE
    return Step.QUARANTINE


def handled(run: Callable[[], Outcome], quarantine: Callable[[Exception], Outcome],
            database_answers: Callable[[], bool]) -> Outcome:
    """``run``'s outcome, tried again or quarantined as ``decide`` says."""
    for attempt in range(2):
        try:
            return run()
        except Exception as e:
            step = decide(e, attempt, database_answers)
            if step is Step.RAISE:
                raise
            if step is Step.QUARANTINE:
                return quarantine(e)
    raise AssertionError("unreachable")  # decide raises on the second attempt


def _answers() -> bool:
    """For paths that take an error's own word on whether the database is down."""
    return True


def _reason(e: Exception) -> str:
    return f"{type(e).__name__}: {e}"


class App:
    def __init__(self, config: Config, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or Clock()
        self.db = Database(config.database.url, config.database.busy_timeout)
        # Every transaction's events extend the report's tables (sla/waits.py), which
        # need the departments' calendars: each session carries them.
        self.db.session_info[INFO_KEY] = Book(config)
        sealing.use(None)  # until ``unlock``: one configuration's keys per process

    @cached_property
    def templates(self) -> Templates:
        from mailticket.outgoing.templates import Templates

        return Templates(self.config.template_dir)

    def unlock(self) -> None:
        """Check the configured encryption keys against the database and use them; a
        ``SealingError`` for the admin when they do not fit (before any mail is read).
        Without encryption configured, one Core read says the database is plain too:
        a reading command loads no ORM for it."""
        sealing.use(None)
        if not self.config.storage.encryption_key_env and not self.db.setting(INDEX_KEY_SETTING):
            return
        from mailticket.store import encryption

        encryption.unlock(self.db, self.config)

    def ensure_schema(self, apart: bool = False,
                      meanwhile: Callable[[], object] | None = None) -> None:
        """Upgrade when allowed; otherwise say exactly what to run.  ``apart``: in a child
        process (the daemon), so that Alembic's modules stay out of this one; the
        daemon loads its own (``meanwhile``) while the child works."""
        if self.db.needs_upgrade():
            if not self.config.database.auto_upgrade:
                raise SchemaOutdated(
                    "the database schema is not up to date; run `mailticket db upgrade`")
            if apart:
                self.db.upgrade_apart(meanwhile)
            else:
                self.db.upgrade()
        if not self.db.setting(BUILT):  # read with Core: a reading command loads no ORM
            from mailticket.sla import waits

            waits.ensure_built(self.db, self.config)

    @cached_property
    def secret(self) -> bytes:
        """HMAC key of token addresses: from the environment, else generated once and kept."""
        value = self.config.resolved_secret()
        if value:
            return value.encode()
        from mailticket.store.models import Setting

        with self.db.transaction() as s:
            row = s.get(Setting, "token_secret")
            if row is None:
                row = Setting(key="token_secret", value=secrets.token_hex(32))
                s.add(row)
                log.warning("no %s in the environment: generated a token secret and stored it "
                            "in the database", self.config.secret_env)
            return row.value.encode()

    @cached_property
    def pipeline(self) -> Pipeline:
        from mailticket.pipeline import Pipeline

        return Pipeline(self.config, self.clock, self.secret, self.templates)

    @cached_property
    def parser(self) -> ParsePool:
        from mailticket.ingest.workers import ParsePool

        cpus = len(os.sched_getaffinity(0))  # what this process may use, not the host
        pool = ParsePool(self.config.ingest.workers(cpus), self.config.languages,
                         self.config.own_addresses, self.pipeline.mailer.instance,
                         {d.key: d.name for d in self.config.departments})
        if pool.workers:  # the workers match new mail against each FAQ index built
            self.pipeline.mailer.faq.offer = pool.offer
        return pool

    @cached_property
    def escalator(self) -> Escalator:
        from mailticket.sla.escalation import Escalator

        return Escalator(self.config, self.db, self.pipeline.mailer)

    @cached_property
    def asker(self) -> Asker:
        from mailticket.feedback.asking import Asker

        return Asker(self.config, self.db, self.pipeline.mailer)

    @cached_property
    def outbox(self) -> Outbox:
        from mailticket.outgoing.outbox import Outbox
        from mailticket.outgoing.transport import make_transport

        out = self.config.outgoing
        return Outbox(self.db, make_transport(out), self.clock, out.max_attempts, out.lease,
                      out.connections if out.transport == "smtp" else 1)

    def ingest(
        self, raw: bytes, *, department: str | None, source: str,
        envelope_rcpts: Sequence[str] = (),
        also: Callable[[Session], None] | None = None,
    ) -> Outcome:
        """Process one mail in one transaction; quarantine it if processing fails.

        ``also`` runs in the same transaction as the mail's outcome (the IMAP poller
        moves its UID watermark there), so the mail and the mark commit together.
        A database that is down or locked is not the mail's fault: that error goes
        up and the mail is tried again later.
        """
        def run() -> Outcome:
            with self.db.transaction() as s:
                outcome = self.pipeline.process(
                    s, raw, mailbox_department=department, source=source,
                    envelope_rcpts=envelope_rcpts)
                if also:
                    also(s)
            return outcome

        def keep(e: Exception) -> Outcome:
            with self.db.transaction() as s:
                outcome = self._quarantine_in(s, raw, department, source, e)
                if also:
                    also(s)
            return outcome

        return handled(run, keep, self.database_answers)

    def ingest_batch(self, items: Sequence[tuple[bytes, str]], *, department: str | None,
                     also: Callable[[Session], None],
                     prepared: Sequence[Prepared] | None = None) -> list[Outcome]:
        """Several mails in one transaction: one commit per batch instead of per mail.

        The watermark moves in the same transaction as the mails it covers, so a crash
        loses the whole uncommitted batch or nothing, and the batch is fetched again.
        The batch is first tried in one go; if a mail breaks the pipeline, all of it
        is rolled back and done again with a savepoint per mail, so that mail alone is
        quarantined.  A database that is down or locked aborts the batch, to be tried
        again later.  ``prepared``: the same mails prepared already (by ``parser``'s workers).
        """
        from mailticket.incoming.threading import originals_first
        from mailticket.store.writes import Writes

        outcomes: list[Outcome | None] = [None] * len(items)
        order: Sequence[int] = range(len(items))
        try:
            # Prepared in the try: a mail that breaks preparing is quarantined alone.
            mails = list(prepared) if prepared else [
                self.pipeline.preparer.prepare(raw) for raw, _ in items]
            # Originals before the replies to them in the same batch (delivery order is
            # not thread order); the outcomes are given back in the order of ``items``.
            order = originals_first([(p.mail.message_id,
                                      [*p.mail.in_reply_to, *p.mail.references])
                                     for p in mails])
            with self.db.transaction() as s:
                reads, writes = self.pipeline.batch(s, mails), Writes(s)
                for i in order:
                    outcomes[i] = self.pipeline.process_prepared(
                        s, mails[i], reads, writes, mailbox_department=department,
                        source=items[i][1])
                writes.write()
                also(s)
            return [o for o in outcomes if o is not None]
        except Exception as e:  # one mail broke it, or a race: find which, below
            if decide(e, 0, _answers) is Step.RAISE:
                raise
            failure = e
        log.warning("a batch of %d mails failed (%s: %s); processing it again mail by mail",
                    len(items), type(failure).__name__, failure)
        careful = self._ingest_careful([items[i] for i in order], department, also)
        for i, outcome in zip(order, careful, strict=True):
            outcomes[i] = outcome
        return [o for o in outcomes if o is not None]

    def _ingest_careful(self, items: Sequence[tuple[bytes, str]], department: str | None,
                        also: Callable[[Session], None]) -> list[Outcome]:
        """Each mail in a savepoint of its own: one that breaks is rolled back to it and
        quarantined alone."""
        outcomes = []
        with self.db.transaction() as s:
            for raw, source in items:
                def run(raw: bytes = raw, source: str = source) -> Outcome:
                    try:
                        with s.begin_nested():
                            return self.pipeline.process(
                                s, raw, mailbox_department=department, source=source)
                    except Exception:
                        # What the failed mail added to tickets in memory (their
                        # threads, participants) was never written: read them again.
                        s.expire_all()
                        raise

                outcomes.append(handled(
                    run, partial(self._quarantine_in, s, raw, department, source), _answers))
            also(s)
        return outcomes

    def _quarantine_in(self, s: Session, raw: bytes, department: str | None, source: str,
                       e: Exception) -> Outcome:
        """Keep the mail that broke processing, in ``s``, for an admin to look at."""
        from mailticket.pipeline import Outcome
        from mailticket.store.models import Quarantine

        reason = _reason(e)
        log.error("%s quarantined: %s", source, reason, exc_info=True,
                  extra={"source": source, "department": department})
        q = Quarantine(at=self.clock.now(), source=source, department=department,
                       reason=reason[:4000], raw=raw)
        s.add(q)
        s.flush()
        return Outcome("quarantined", None, f"quarantine:{q.id}", reason)

    def database_answers(self) -> bool:
        """Tells a database that is down from a statement that failed on this mail."""
        try:
            with self.db.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
            return True
        except Exception:
            return False

    def ingest_once(self, raw: bytes, *, department: str | None, source: str) -> Outcome:
        """Like ``ingest``, but a failure is reported instead of quarantined again, and
        any database error goes up (an admin's retry shows it as it is)."""
        from mailticket.pipeline import Outcome

        def run() -> Outcome:
            with self.db.transaction() as s:
                return self.pipeline.process(s, raw, mailbox_department=department,
                                             source=source)

        return handled(run, lambda e: Outcome("quarantined", None, "", _reason(e)),
                       lambda: False)

    def close(self) -> None:
        if "parser" in self.__dict__:
            self.parser.close()
        self.db.dispose()
