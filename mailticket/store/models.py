"""Database tables.  Every change to them goes through an Alembic migration.

Instants are stored as naive UTC (``UtcDateTime`` adds and strips the zone) so
SQLite and PostgreSQL compare them the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from mailticket.store import states as _states
from mailticket.store.sealing import SealedBytes, SealedText


class UtcDateTime(TypeDecorator[datetime]):
    """Aware datetimes in Python, naive UTC in the database."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is UTC:
            return value.replace(tzinfo=None)
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use clock.now()")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    pass


# Ticket states, as the CLI's JSON names them (kept apart: the CLI lists them unloaded).
STATES, PRIORITIES = _states.STATES, _states.PRIORITIES


class Ticket(Base):
    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    department: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(Text, default="")
    customer: Mapped[str] = mapped_column(String(320), index=True)
    customer_name: Mapped[str] = mapped_column(String(320), default="")
    state: Mapped[str] = mapped_column(String(16), default="new")
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    assignee: Mapped[str | None] = mapped_column(String(320), nullable=True)
    language: Mapped[str | None] = mapped_column(String(16), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # The SLA clock of the oldest customer message still waiting for an answer.
    clock_started_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    warn_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # When the last clock was stopped in time (met) or late (answered after due_at).
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # Notices sent for the running clock: 0 none, 1 warning, 2 breach, 3+ further levels;
    # next_notice_at is when the next one is due (indexed: the escalation scan reads it).
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    next_notice_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True,
                                                            index=True)

    # Loaded when used, never with every ticket: a listing of a million tickets must not
    # read their threads.
    messages: Mapped[list[Message]] = relationship(
        back_populates="ticket", order_by="Message.id", lazy="select"
    )
    participants: Mapped[list[Participant]] = relationship(
        back_populates="ticket", order_by="Participant.id", lazy="select"
    )

    # Only running clocks have a due instant (an answer, #pending or closing clears it),
    # so these partial indexes hold a few percent of the tickets: the SLA scan and the
    # status counts never read the rest, at a million tickets or more.
    __table_args__ = (
        Index("ix_tickets_department_state", "department", "state"),
        # warn_at too, so "at risk" (warned, not yet due) is counted from the index alone.
        Index("ix_tickets_clock_department_due", "department", "due_at", "warn_at",
              sqlite_where=text("due_at IS NOT NULL"),
              postgresql_where=text("due_at IS NOT NULL")),
        Index("ix_tickets_clock_warn", "warn_at",
              sqlite_where=text("due_at IS NOT NULL"),
              postgresql_where=text("due_at IS NOT NULL")),
    )


class Message(Base):
    """A mail in or out.  ``raw`` is byte-exact as received or as handed to SMTP."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    direction: Mapped[str] = mapped_column(String(3))  # in | out
    kind: Mapped[str] = mapped_column(String(24))
    message_id: Mapped[str] = mapped_column(String(998), unique=True)
    # Hash of From, Date, Subject and body of incoming mail: tells the same mail
    # fetched twice (trace headers differ) from a different mail reusing a Message-ID.
    fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True)
    in_reply_to: Mapped[str | None] = mapped_column(Text, nullable=True)
    references: Mapped[list[str]] = mapped_column(JSON, default=list)
    from_addr: Mapped[str] = mapped_column(String(320), default="")
    from_name: Mapped[str] = mapped_column(String(320), default="")
    to: Mapped[list[str]] = mapped_column(JSON, default=list)
    cc: Mapped[list[str]] = mapped_column(JSON, default=list)
    subject: Mapped[str] = mapped_column(Text, default="")
    date: Mapped[datetime] = mapped_column(UtcDateTime)
    text: Mapped[str] = mapped_column(SealedText, default="")  # sealed: docs/deploy.md
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    language: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # Why the pipeline treated it this way: "auto_reply: Auto-Submitted: auto-replied".
    verdict: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(200), default="")
    raw: Mapped[bytes] = mapped_column(SealedBytes, deferred=True)  # read only when needed

    ticket: Mapped[Ticket | None] = relationship(back_populates="messages")


class Participant(Base):
    __tablename__ = "participants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    address: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(320), default="")
    role: Mapped[str] = mapped_column(String(16))  # customer | cc | agent
    # A bounce named this address: agents see it; we keep writing (it may recover).
    bouncing: Mapped[bool] = mapped_column(Boolean, default=False)

    ticket: Mapped[Ticket] = relationship(back_populates="participants")

    # By address too: `customer show/export/forget` find a person's tickets (0009).
    __table_args__ = (UniqueConstraint("ticket_id", "address"),
                      Index("ix_participants_address", "address"))


class Event(Base):
    """Audit trail: every state change and every mail queued or sent."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    kind: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(320), default="system")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    # Not read by the code: it tells the session to write tickets before the rows naming them
    # when one flush holds both (ticket numbers are given before the ticket is written).
    ticket: Mapped[Ticket | None] = relationship()

    # The report reads a period's arrivals, answers and stops by kind and time; the
    # ticket and actor in the index spare a read of each event's row.
    __table_args__ = (Index("ix_events_kind_at", "kind", "at", "ticket_id", "actor"),)


class MailboxState(Base):
    """Where a department's IMAP sync stands; the UID watermark moves in the mail's own commit."""

    __tablename__ = "mailbox_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    department: Mapped[str] = mapped_column(String(64))
    folder: Mapped[str] = mapped_column(String(200))
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    last_success_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_error_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)

    __table_args__ = (UniqueConstraint("department", "folder"),)


class OutboxItem(Base):
    """A mail waiting to be handed to SMTP; written in the same transaction as its cause."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), nullable=True)
    kind: Mapped[str] = mapped_column(String(24))
    message_id: Mapped[str] = mapped_column(String(998))
    mail_from: Mapped[str] = mapped_column(String(320))
    rcpt_to: Mapped[list[str]] = mapped_column(JSON)
    # The bytes are the messages row's of the same Message-ID, written in the same
    # transaction: stored once, not twice.
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    failed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The daemons row of the sender that holds it while it sends (next_attempt_at is then
    # the lease): free again at once when that sender dies.
    claimed_by: Mapped[int | None] = mapped_column(Integer, nullable=True)

    ticket: Mapped[Ticket | None] = relationship()  # write order, as for Event

    __table_args__ = (Index("ix_outbox_pending", "sent_at", "failed_at", "next_attempt_at"),
                      # A claim takes the oldest unsent ids: in id order, from the unsent
                      # rows alone (0013).  Without it PostgreSQL walked the primary key
                      # over every row sent before, through a backlog too.
                      Index("ix_outbox_unsent", "id",
                            sqlite_where=text("sent_at IS NULL AND failed_at IS NULL"),
                            postgresql_where=text("sent_at IS NULL AND failed_at IS NULL")),
                      # An erasure finds a ticket's outgoing mail (0009).
                      Index("ix_outbox_ticket", "ticket_id"))


class DaemonRecord(Base):
    """A running daemon, or a one-shot CLI run that claims mail: what claims are held in
    the name of.  Alive while its heartbeat is fresh; deleted when it stops or is found
    dead, its claims freed in the same transaction."""

    __tablename__ = "daemons"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    command: Mapped[str] = mapped_column(String(32))  # run | poll | outbox
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    heartbeat_at: Mapped[datetime] = mapped_column(UtcDateTime)

    # Never reuse a dead daemon's number on SQLite: a claim in its name must not pass
    # to a newcomer.
    __table_args__ = {"sqlite_autoincrement": True}


class Quarantine(Base):
    """Mail we could not process; kept raw with the reason so nothing is lost."""

    __tablename__ = "quarantine"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    source: Mapped[str] = mapped_column(String(200))
    department: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[bytes] = mapped_column(SealedBytes)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class Contact(Base):
    """What we know about an address across tickets: the language it writes in."""

    __tablename__ = "contacts"

    address: Mapped[str] = mapped_column(String(320), primary_key=True)
    language: Mapped[str | None] = mapped_column(String(16), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Setting(Base):
    """Small key/value facts the installation keeps, such as the generated token secret."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class FeedbackRequest(Base):
    """One "how did we do?" per closed ticket: waiting (asked after a delay, so a quick
    reopen cancels it), asked, answered with a grade, or cancelled.  Written at every
    close; whether and when to ask is the department's policy, applied when it is due."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), unique=True)
    state: Mapped[str] = mapped_column(String(16))  # waiting | asked | answered | cancelled
    closed_at: Mapped[datetime] = mapped_column(UtcDateTime)  # asked ``delay`` after this
    asked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    grade: Mapped[int | None] = mapped_column(Integer, nullable=True)
    comment: Mapped[str | None] = mapped_column(SealedText, nullable=True)

    __table_args__ = (Index("ix_feedback_due", "state", "closed_at"),)


class Question(Base):
    """A ticket's first customer mail as the search analyzer's distinct terms (stored
    tokens): what ``faq candidates`` clusters, without reading or analysing a mail again.
    Written with the search index, in the mail's own transaction."""

    __tablename__ = "questions"

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), primary_key=True)
    department: Mapped[str] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(16), nullable=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    terms: Mapped[str] = mapped_column(Text, default="")  # space-separated, first seen first

    __table_args__ = (Index("ix_questions_department_at", "department", "at"),)


class FaqEntry(Base):
    """One FAQ answer of a department in one language: written by an admin, or kept by an
    agent's ``#faq`` reply as a draft (``origin_ticket`` the ticket it came from).
    ``suggested``/``solved`` count auto-responses that showed it and SOLVED replies."""

    __tablename__ = "faq_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    department: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(16))
    # Sealed: an agent's draft may quote a customer.
    question: Mapped[str] = mapped_column(SealedText)
    answer: Mapped[str] = mapped_column(SealedText)
    state: Mapped[str] = mapped_column(String(16), default="published")  # draft | published
    origin: Mapped[str] = mapped_column(String(16), default="admin")  # admin | agent
    origin_agent: Mapped[str | None] = mapped_column(String(320), nullable=True)
    # No foreign key: an entry outlives the ticket it was drawn from (retention, forget).
    origin_ticket: Mapped[int | None] = mapped_column(Integer, nullable=True)
    suggested: Mapped[int] = mapped_column(Integer, default=0)
    solved: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    # Suggestions read the published entries of one department and language.
    __table_args__ = (Index("ix_faq_entries_department_language", "department", "language",
                            "state"),)


class Wait(Base):
    """One customer message that awaited an answer, and how the wait ended: what the
    report and staffing aggregate in SQL instead of replaying the events
    (``sla/waits.py`` keeps it, in the transaction of the events it follows).

    ``due_at`` is the promise for this message; ``day``/``hour`` its arrival in the
    department's zone; ``stopped_*`` the first answer, close or #pending at or after
    it (``stopped_by`` the agent of an answer, else None) with the business seconds it
    waited, and ``group_prev`` the arrival of the message before it that the same stop
    ended (None when it is the oldest); ``answered_*`` the first answer at or after it
    (the ticket's first message only: the first response).  No customer data: ids,
    instants and agent addresses."""

    __tablename__ = "waits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    department: Mapped[str] = mapped_column(String(64))
    first: Mapped[bool] = mapped_column(Boolean, default=False)
    language: Mapped[str | None] = mapped_column(String(16), nullable=True)
    arrived_at: Mapped[datetime] = mapped_column(UtcDateTime)
    day: Mapped[str] = mapped_column(String(10))  # local date, ISO
    hour: Mapped[int] = mapped_column(Integer)  # local hour 0-23
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    stopped_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    stopped_by: Mapped[str | None] = mapped_column(String(320), nullable=True)
    answered: Mapped[bool] = mapped_column(Boolean, default=False)  # stopped by an answer
    stop_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    group_prev: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    answer_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    answer_wall_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)

    ticket: Mapped[Ticket] = relationship()  # write order, as for Event

    # Each of the report's scans reads one of these alone (never the table): the
    # period's counts, the first responses, the answers' response times.
    __table_args__ = (
        # In the order the counts are grouped: read in index order, never sorted.
        Index("ix_waits_period", "department", "day", "hour", "language", "arrived_at",
              "due_at", "stopped_at", "answered", "first"),
        Index("ix_waits_arrivals", "department", "arrived_at", "due_at"),  # staffing
        Index("ix_waits_first", "department", "arrived_at", "answered_at", "answer_seconds",
              "answer_wall_seconds", sqlite_where=text("first = 1"),
              postgresql_where=text("first")),
        # By arrival first: with finished days stored, the report reads a few days.
        Index("ix_waits_answers", "department", "arrived_at", "stopped_by", "stopped_at",
              "group_prev", "stop_seconds", sqlite_where=text("stopped_by IS NOT NULL"),
              postgresql_where=text("stopped_by IS NOT NULL")),
        Index("ix_waits_ticket", "ticket_id"))


class ReportDay(Base):
    """One department's finished day of waits, summed once (report/days.py): a year's
    report reads 365 of these instead of a million waits.  Finished: every wait of the
    day was stopped or fell due before ``settled_at``, so no later instant changes its
    figures; any write to one of its waits deletes the row (sla/waits.py).  ``counts``
    is JSON (messages per hour, languages, tickets, outcomes, where each agent's values
    lie in ``samples``); ``samples`` the day's first responses, their wall-clock times
    and the agents' response times, as float64 seconds.  Agent addresses only."""

    __tablename__ = "report_days"

    department: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # local date, ISO
    settled_at: Mapped[datetime] = mapped_column(UtcDateTime)
    counts: Mapped[str] = mapped_column(Text)
    samples: Mapped[bytes] = mapped_column(LargeBinary)


class Milestone(Base):
    """An answer, a close or a reopen, by department: what the report counts of them
    (answers per agent, the reopen rate) without reading the events' details."""

    __tablename__ = "milestones"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    department: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(8))  # answer | close | reopen
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    agent: Mapped[str | None] = mapped_column(String(320), nullable=True)

    ticket: Mapped[Ticket] = relationship()

    # Grouped by kind and agent in the index's order: counted without a sort.
    __table_args__ = (Index("ix_milestones_department_kind_agent", "department", "kind",
                            "agent", "at"),
                      Index("ix_milestones_ticket", "ticket_id"))


class MailboxLease(Base):
    """Which daemon holds a department's mailbox.  Held while the holder's heartbeat is
    fresh (``daemons``), so renewing every lease costs one UPDATE per daemon; ``epoch``
    grows at every change of holder and fences a holder that was taken for dead: a
    batch commits only if the epoch it fetched under is still the lease's."""

    __tablename__ = "mailbox_leases"

    department: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[int | None] = mapped_column(Integer, nullable=True)  # daemons.id
    epoch: Mapped[int] = mapped_column(Integer, default=0)
    acquired_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)

    # Every balancing round reads the leases of one holder.
    __table_args__ = (Index("ix_mailbox_leases_holder", "holder"),)
