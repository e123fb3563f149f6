"""Is the promise kept: the report's figures from a department's history.  Pure.

The history is what the events record (docs/reports.md gives each figure's
definition): when each customer message arrived, when agents answered, and when a
clock was stopped without an answer (a close or ``#pending``).  Each customer
message awaits an answer from its arrival; its due instant is the promise the
department's calendar makes for it.  Its outcome is decided by the first answer, or
the first stop without one, on its ticket at or after its arrival.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

IN_TIME, LATE, OVERDUE = "answered_in_time", "answered_late", "unanswered_overdue"


@dataclass(frozen=True)
class Arrival:
    """A customer message that awaited an answer."""

    ticket: int
    at: datetime
    language: str | None


@dataclass(frozen=True)
class Stop:
    """Something that stopped a ticket's clock: an answer (with its agent) or a close or
    ``#pending`` without one (``agent`` None)."""

    ticket: int
    at: datetime
    agent: str | None


@dataclass
class History:
    """One department's history, in time order within each list."""

    arrivals: list[Arrival]
    stops: list[Stop]
    tickets_created: list[tuple[int, datetime]]  # (ticket, created_at) in the period
    escalations: int = 0
    reopened: int = 0
    closed: int = 0
    solved_by_faq: int = 0
    open_now: int = 0
    oldest_unanswered_since: datetime | None = None


@dataclass
class Figures:
    department: str
    history: History  # the counts it gives as they are (escalations, backlog …)
    tickets: int
    customer_messages: int
    outcomes: Counter[str] = field(default_factory=Counter)
    first_response: list[timedelta] = field(default_factory=list)
    first_response_wall: list[timedelta] = field(default_factory=list)
    by_hour: list[list[int]] = field(default_factory=lambda: [[0] * 24 for _ in range(7)])
    by_day: Counter[str] = field(default_factory=Counter)
    answers: Counter[str] = field(default_factory=Counter)
    agents: dict[str, list[timedelta]] = field(default_factory=dict)
    languages: Counter[str] = field(default_factory=Counter)
    weekly: dict[str, Counter[str]] = field(default_factory=dict)  # Monday → outcomes
    # Summed in SQL (report/aggregate.py) instead of from the lists above: the median
    # and p90 of first_response and first_response_wall, each agent's median.
    quantiles: dict[str, dict[str, float | None]] | None = None
    agent_medians: dict[str, float | None] | None = None

    @property
    def sla_met_ratio(self) -> float | None:
        total = sum(self.outcomes[k] for k in (IN_TIME, LATE, OVERDUE))
        return round(self.outcomes[IN_TIME] / total, 4) if total else None

    @property
    def reopen_rate(self) -> float | None:
        h = self.history
        return round(h.reopened / h.closed, 4) if h.closed else None


def _quantiles(values: list[timedelta]) -> dict[str, float | None]:
    """Median and 90th percentile in seconds (nearest rank: a value that occurred)."""
    if not values:
        return {"median": None, "p90": None}
    ordered = sorted(v.total_seconds() for v in values)
    p90 = ordered[max(0, -(-len(ordered) * 9 // 10) - 1)]
    return {"median": float(statistics.median(ordered)), "p90": float(p90)}


def compute(department: str, history: History, *, until: datetime, now: datetime,
            zone: ZoneInfo,
            due: Callable[[datetime], datetime],
            business: Callable[[datetime, datetime], timedelta]) -> Figures:
    """The figures of one department.  ``due(arrival)`` is the promise for a message that
    arrived then; ``business(a, b)`` the open time between two instants."""
    fig = Figures(department, history, len(history.tickets_created), len(history.arrivals))
    stops: dict[int, list[Stop]] = {}
    for s in history.stops:
        stops.setdefault(s.ticket, []).append(s)
    arrived: dict[int, list[datetime]] = {}
    for a in history.arrivals:
        arrived.setdefault(a.ticket, []).append(a.at)
    for a in history.arrivals:
        local = a.at.astimezone(zone)
        fig.by_hour[local.weekday()][local.hour] += 1
        fig.by_day[local.date().isoformat()] += 1
        fig.languages[a.language or "unknown"] += 1
        outcome = _outcome(a, due(a.at), stops.get(a.ticket, ()), now)
        if outcome:
            fig.outcomes[outcome] += 1
            monday = (local.date() - timedelta(days=local.weekday())).isoformat()
            fig.weekly.setdefault(monday, Counter())[outcome] += 1
    for ticket, created in history.tickets_created:
        answer = next((s for s in stops.get(ticket, ()) if s.agent and s.at >= created), None)
        if answer is not None:
            fig.first_response.append(business(created, answer.at))
            fig.first_response_wall.append(answer.at - created)
    for ticket, ticket_stops in stops.items():
        _agent_times(fig, ticket_stops, arrived.get(ticket, []), until, business)
    return fig


def _outcome(a: Arrival, due_at: datetime, stops: Iterable[Stop], now: datetime) -> str | None:
    stop = next((s for s in stops if s.at >= a.at), None)
    if stop is None:
        return OVERDUE if now > due_at else None  # still within its promise: not counted
    if stop.agent is not None:
        return IN_TIME if stop.at <= due_at else LATE
    return OVERDUE if stop.at > due_at else None  # closed without an answer in time


def _agent_times(fig: Figures, stops: Sequence[Stop], arrivals: list[datetime],
                 until: datetime, business: Callable[[datetime, datetime], timedelta]) -> None:
    """Each answer of the period and its response time: from the oldest message it
    answered (the first arrival after the previous stop) to the answer, in business
    time.  An answer to a message from before the period counts, without a time."""
    previous: datetime | None = None
    for s in stops:
        waiting = [t for t in arrivals if t <= s.at and (previous is None or t > previous)]
        if s.agent is not None and s.at < until:
            fig.answers[s.agent] += 1
            if waiting:
                fig.agents.setdefault(s.agent, []).append(business(waiting[0], s.at))
        previous = s.at


def _iso(at: datetime | None, zone: ZoneInfo) -> str | None:
    return at.astimezone(zone).isoformat(timespec="seconds") if at else None


def as_json(fig: Figures, zone: ZoneInfo) -> dict[str, object]:
    """The report's stable JSON fields (docs/cli.md)."""
    return {
        "department": fig.department,
        "tickets": fig.tickets,
        "customer_messages": fig.customer_messages,
        IN_TIME: fig.outcomes[IN_TIME],
        LATE: fig.outcomes[LATE],
        OVERDUE: fig.outcomes[OVERDUE],
        "sla_met_ratio": fig.sla_met_ratio,
        "first_response_business_seconds": fig.quantiles["first_response"]
        if fig.quantiles else _quantiles(fig.first_response),
        "first_response_wall_seconds": fig.quantiles["first_response_wall"]
        if fig.quantiles else _quantiles(fig.first_response_wall),
        "by_hour": fig.by_hour,
        "by_day": dict(sorted(fig.by_day.items())),
        "backlog": {"open": fig.history.open_now, "oldest_unanswered_since": _iso(
            fig.history.oldest_unanswered_since, zone)},
        "agents": [{"agent": agent, "answers": n, "median_response_business_seconds":
                    fig.agent_medians.get(agent) if fig.agent_medians is not None
                    else _quantiles(fig.agents.get(agent, []))["median"]}
                   for agent, n in sorted(fig.answers.items())],
        "languages": dict(sorted(fig.languages.items())),
        "escalations": fig.history.escalations,
        "reopened": fig.history.reopened,
        "reopen_rate": fig.reopen_rate,
        "solved_by_faq": fig.history.solved_by_faq,
    }
