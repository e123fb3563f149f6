"""What every notice shares: rendering its kind's template in the reader's language,
building it with the department as sender and queueing it in the caller's transaction.

``to_customer.py`` and ``to_staff.py`` hold the notices themselves; ``mailer.Mailer``
is the one object the pipeline, agent, CLI and escalator call.
"""

from __future__ import annotations

from datetime import datetime

from mailticket.config import Config, DepartmentConfig
from mailticket.faq.suggest import Suggestions
from mailticket.outgoing import compose
from mailticket.outgoing.kinds import KINDS
from mailticket.outgoing.outbox import enqueue
from mailticket.outgoing.templates import Templates
from mailticket.store.records import AnyMessage, AnyTicket
from mailticket.store.writes import Writes


class Notices:
    def __init__(self, config: Config, templates: Templates, secret: bytes) -> None:
        self.config = config
        self.templates = templates
        self.secret = secret
        self.instance = compose.loop_instance(secret, config.instance)
        # FAQ entries for auto-responses; its index lives as long as the mailer.
        self.faq = Suggestions(config.faq.suggest)

    def _tz(self, dept: DepartmentConfig) -> str:
        return (dept.calendar or self.config.calendar).timezone

    def _render(self, kind: str, dept: DepartmentConfig, languages: list[str], /,
                **context: object) -> tuple[str, str]:
        """The kind's template in the first of ``languages`` it exists in, then the
        department's; with the text, the language it was written in.  (Positional, as
        the notification's template has a ``kind`` of its own: the mail's.)"""
        return self.templates.render(
            KINDS[kind].template, dept_name=dept.name, dept_dir=dept.template_dir,
            languages=[*languages, dept.language], department=dept.sender_name,
            timezone=self._tz(dept), **context)

    def _send(self, writes: Writes, ticket: AnyTicket, kind: str, dept: DepartmentConfig,
              now: datetime, each_to: list[list[tuple[str, str]]], **kw: object
              ) -> list[compose.Outgoing]:
        """One mail per entry of ``each_to`` (own Message-ID each), queued on the ticket."""
        outs = compose.build_each(kind, each_to=each_to, from_addr=dept.address, date=now,
                                  instance=self.instance,
                                  auto_submitted=KINDS[kind].auto_submitted,
                                  **kw)  # type: ignore[arg-type]
        for out in outs:
            enqueue(writes, out, ticket=ticket, now=now)
        return outs

    def last_customer_message(self, ticket: AnyTicket) -> AnyMessage | None:
        for m in reversed(ticket.messages):
            if m.direction == "in" and m.kind == "customer":
                return m
        return None
