"""Prometheus metrics, served by the daemon at ``[metrics] listen``.

Gauges are read from the database by one collector, one query set per scrape, so
every daemon (and a scrape after a restart) reports the same backlog.  Counters
count what happened since this process started, as Prometheus counters do
(``rate()`` and ``increase()`` handle restarts): they too are read from the database
(messages, events), incrementally past a watermark, so they count the work of every
daemon sharing it — except the fetch counters, which count this process's own
fetches.  Names follow Prometheus' conventions: base units, ``_total`` counters, no
addresses or ticket numbers as labels.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter as Tally
from collections.abc import Iterator
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailticket.store.models import (
    Event,
    MailboxState,
    Message,
    OutboxItem,
    Quarantine,
    Ticket,
)

if TYPE_CHECKING:
    from mailticket.app import App

log = logging.getLogger("mailticket.metrics")

#: First response in business seconds: 5 min … 2 business days (8-hour days).
BUCKETS = (300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 57600.0, float("inf"))

REGISTRY = CollectorRegistry()
FETCHES = Counter("mailticket_fetch_runs_total", "IMAP fetches this process ran",
                  ["department"], registry=REGISTRY)
FETCH_ERRORS = Counter("mailticket_fetch_errors_total", "IMAP fetches of this process that "
                       "failed", ["department"], registry=REGISTRY)


def _version() -> str:
    try:
        return version("mailticket")
    except PackageNotFoundError:
        return "unknown"


def _seconds(now: datetime, then: datetime | None) -> float:
    return max(0.0, (now - then).total_seconds()) if then else 0.0


class DatabaseCollector(Collector):
    """What the database says, at each scrape."""

    def __init__(self, app: App) -> None:
        self.app = app
        self._lock = threading.Lock()
        with app.db.read() as s:
            self._message_mark = s.scalar(select(func.max(Message.id))) or 0
            self._event_mark = s.scalar(select(func.max(Event.id))) or 0
        self._received: Tally[tuple[str, str]] = Tally()
        self._sent: Tally[str] = Tally()
        self._breaches: Tally[str] = Tally()
        self._answers: dict[str, list[float]] = {}

    def _catch_up(self, s: Session) -> None:
        """Add what was stored since the last scrape to the counters."""
        top = s.scalar(select(func.max(Message.id))) or 0
        for dept, kind, n in s.execute(
                select(Ticket.department, Message.kind, func.count())
                .select_from(Message).outerjoin(Ticket, Ticket.id == Message.ticket_id)
                .where(Message.id > self._message_mark, Message.id <= top,
                       Message.direction == "in")
                .group_by(Ticket.department, Message.kind)):
            self._received[(dept or "", kind)] += n
        self._message_mark = top
        top = s.scalar(select(func.max(Event.id))) or 0
        rows = s.execute(select(Event.kind, Event.detail, Event.at, Ticket.department)
                         .outerjoin(Ticket, Ticket.id == Event.ticket_id)
                         .where(Event.id > self._event_mark, Event.id <= top,
                                Event.kind.in_(("mail_sent", "sla_escalation", "answered"))))
        config = self.app.config
        for kind, detail, at, dept in rows:
            detail = detail or {}
            if kind == "mail_sent":
                self._sent[str(detail.get("kind", ""))] += 1
            elif kind == "sla_escalation" and detail.get("level") == 2:
                self._breaches[dept or ""] += 1
            elif kind == "answered" and detail.get("waited_from") and dept:
                started = datetime.fromisoformat(detail["waited_from"])
                try:
                    cal = config.calendar_for(config.department(dept))
                except KeyError:
                    continue
                self._answers.setdefault(dept, []).append(
                    cal.open_time_between(started, at).total_seconds())
        self._event_mark = top

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            try:
                yield from self._collect()
            except Exception:  # a scrape must not take the daemon down
                log.exception("metrics: the database could not be read")

    def _collect(self) -> Iterator[Metric]:
        app, now = self.app, self.app.clock.now()
        families: list[Metric] = []
        info = InfoMetricFamily("mailticket_build", "the running mailticket")
        info.add_metric([], {"version": _version()})
        families.append(info)
        with app.db.read() as s:
            self._catch_up(s)
            families += list(self._gauges(s, now))
        received = CounterMetricFamily("mailticket_mail_received", "mail stored, by the "
                                       "department of its ticket and its kind",
                                       labels=["department", "kind"])
        for (dept, kind), n in sorted(self._received.items()):
            received.add_metric([dept, kind], n)
        sent = CounterMetricFamily("mailticket_mail_sent", "mail accepted by the SMTP "
                                   "server, by kind", labels=["kind"])
        for kind, n in sorted(self._sent.items()):
            sent.add_metric([kind], n)
        breaches = CounterMetricFamily("mailticket_sla_breaches", "promises broken (the "
                                       "breach notice sent)", labels=["department"])
        hist = HistogramMetricFamily("mailticket_first_response_business_seconds",
                                     "time to an agent's answer, in business time",
                                     labels=["department"])
        for d in app.config.departments:
            breaches.add_metric([d.name], self._breaches[d.name])
            values = self._answers.get(d.name, [])
            buckets = [(_le(b), float(sum(v <= b for v in values))) for b in BUCKETS]
            hist.add_metric([d.name], buckets, sum_value=sum(values))
        families += [received, sent, breaches, hist]
        yield from families

    def _gauges(self, s: Session, now: datetime) -> Iterator[Metric]:
        config = self.app.config
        fetched = GaugeMetricFamily("mailticket_last_fetch_success_timestamp_seconds",
                                    "when the mailbox was last fetched", labels=["department"])
        for m in s.scalars(select(MailboxState)):
            if m.last_success_at:
                fetched.add_metric([m.department], m.last_success_at.timestamp())
        yield fetched
        waiting = (OutboxItem.sent_at.is_(None), OutboxItem.failed_at.is_(None))
        yield GaugeMetricFamily("mailticket_outbox_depth", "mail waiting to be sent",
                                value=s.scalar(select(func.count()).select_from(OutboxItem)
                                               .where(*waiting)) or 0)
        oldest = s.scalar(select(func.min(OutboxItem.created_at)).where(*waiting))
        yield GaugeMetricFamily("mailticket_outbox_oldest_age_seconds", "how long the oldest "
                                "waiting mail has waited", value=_seconds(now, oldest))
        yield GaugeMetricFamily("mailticket_quarantine_size", "mail that could not be "
                                "processed, unresolved",
                                value=s.scalar(select(func.count()).select_from(Quarantine)
                                               .where(Quarantine.resolved_at.is_(None))) or 0)
        tickets = GaugeMetricFamily("mailticket_tickets", "tickets not closed, by SLA state",
                                    labels=["department", "sla"])
        unanswered = GaugeMetricFamily("mailticket_oldest_unanswered_age_seconds",
                                       "how long the oldest customer message waiting for an "
                                       "answer has waited", labels=["department"])
        for d in config.departments:
            count = select(func.count()).select_from(Ticket).where(Ticket.department == d.name)
            running = count.where(Ticket.due_at.is_not(None))
            open_ = s.scalar(count.where(Ticket.state.in_(("new", "open", "pending")))) or 0
            at_risk = s.scalar(running.where(Ticket.warn_at <= now, Ticket.due_at > now)) or 0
            breached = s.scalar(running.where(Ticket.due_at <= now)) or 0
            tickets.add_metric([d.name, "open"], open_)
            tickets.add_metric([d.name, "at_risk"], at_risk)
            tickets.add_metric([d.name, "breached"], breached)
            since = s.scalar(select(func.min(Ticket.clock_started_at)).where(
                Ticket.department == d.name, Ticket.due_at.is_not(None)))
            unanswered.add_metric([d.name], _seconds(now, since))
        yield tickets
        yield unanswered


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else f"{bound:g}"


def serve(app: App) -> Any:
    """Start the HTTP endpoint (a thread of prometheus_client) if ``[metrics] listen``."""
    listen = app.config.metrics.listen
    if not listen:
        return None
    host, _, port = listen.rpartition(":")
    for d in app.config.departments:  # 0 from the start, not absent until the first error
        if d.imap is not None:
            FETCHES.labels(d.name)
            FETCH_ERRORS.labels(d.name)
    REGISTRY.register(DatabaseCollector(app))
    server, thread = start_http_server(int(port), addr=host.strip("[]") or "127.0.0.1",
                                       registry=REGISTRY)
    log.info("metrics at http://%s/metrics", listen)
    return server
