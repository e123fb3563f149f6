"""A ticket's state changes, each leaving an event: by an admin (close, reopen, assign,
set_state) and by mail (``change_state``: a customer's message reopens, an agent's
#close or #pending); closing or waiting for the customer stops the SLA clock.

Each takes the transaction's ``Writes`` (``store.writes.writing`` for a one-off
command), where its events are recorded."""

from __future__ import annotations

from datetime import datetime

from mailticket.feedback import asking as feedback
from mailticket.sla.clock import stop_clock
from mailticket.store.models import Ticket
from mailticket.store.records import AnyTicket
from mailticket.store.writes import Writes


class ActionError(Exception):
    """The change cannot be made to this ticket as it is (the CLI exits 1)."""


class RefusedInput(ActionError):
    """The command names something that does not fit, such as a stranger as assignee (exit 2)."""


def _ticket(writes: Writes, ticket_id: int) -> Ticket:
    t = writes.session.get(Ticket, ticket_id)
    if t is None:
        raise ActionError(f"no ticket {ticket_id}")
    return t


def change_state(writes: Writes, t: AnyTicket, state: str, actor: str, now: datetime) -> None:
    """Move a ticket to a state, recorded; closing or waiting for the customer stops the clock."""
    if t.state == state:
        return
    writes.event(t.id, "state_changed", now, actor, old=t.state, new=state)
    feedback.on_state_change(writes.session, t.id, t.state, state, now)
    t.state, t.updated_at = state, now
    if state in ("closed", "pending"):
        stop_clock(t, now, answered=False)  # an answer before this stopped it already


def set_state(writes: Writes, ticket_id: int, state: str, now: datetime,
              actor: str = "admin") -> Ticket:
    t = _ticket(writes, ticket_id)
    change_state(writes, t, state, actor, now)
    return t


def close(writes: Writes, ticket_id: int, now: datetime, actor: str = "admin") -> Ticket:
    t = _ticket(writes, ticket_id)
    if t.state == "closed":
        raise ActionError(f"ticket {ticket_id} is closed already")
    change_state(writes, t, "closed", actor, now)
    return t


def reopen(writes: Writes, ticket_id: int, now: datetime, actor: str = "admin") -> Ticket:
    """Only a closed ticket reopens: a new one would silently lose its "new" mark."""
    t = _ticket(writes, ticket_id)
    if t.state != "closed":
        raise ActionError(f"ticket {ticket_id} is {t.state}, not closed: only a closed "
                          "ticket can be reopened")
    change_state(writes, t, "open", actor, now)
    return t


def assign(writes: Writes, ticket_id: int, agent: str | None, now: datetime,
           actor: str = "admin", agents: list[str] | None = None) -> Ticket:
    """``agents``: who may be assigned (the department's); None checks nothing."""
    t = _ticket(writes, ticket_id)
    if agent is not None and agents is not None and agent not in agents:
        known = ", ".join(agents) if agents else "none configured"
        raise RefusedInput(f"{agent} is not an agent of department {t.department} "
                           f"(its agents and escalation contacts: {known}; \"-\" unassigns)")
    writes.event(t.id, "assigned", now, actor, old=t.assignee, new=agent)
    t.assignee, t.updated_at = agent, now
    return t
