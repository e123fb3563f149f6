"""Every kind of mail mailticket sends, in one table: a new kind gets one row here.

The name is what the outbox's and the thread's ``kind`` column holds and what ``show
--json`` prints.  Auto-Submitted (RFC 3834; design, "Never answer a machine") says who
wrote it: an agent's relayed answer is a person's words and carries none, so another
helpdesk treats it as a person's mail.  Mail to staff is sent one copy per person with
its own Message-ID: a reply that references it proves who wrote that reply.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MailKind:
    name: str
    template: str                  # in templates/<lang>/
    auto_submitted: str | None     # None: a person's words, no header at all
    to_staff: bool                 # agents or escalation contacts, not the customer
    subject_label: str | None = None   # key of the language's subject prefix ("Overdue: …")


KINDS: dict[str, MailKind] = {k.name: k for k in (
    MailKind("auto_response", "auto_response.txt.j2", "auto-replied", to_staff=False),
    MailKind("closed_notice", "closed.txt.j2", "auto-replied", to_staff=False),
    MailKind("agent", "answer.txt.j2", None, to_staff=False),
    MailKind("notification", "notification.txt.j2", "auto-generated", to_staff=True),
    MailKind("note", "notification.txt.j2", "auto-generated", to_staff=True),
    MailKind("agent_copy", "notification.txt.j2", "auto-generated", to_staff=True),
    MailKind("agent_error", "agent_error.txt.j2", "auto-generated", to_staff=True,
             subject_label="not_sent"),
    MailKind("warning", "warning.txt.j2", "auto-generated", to_staff=True,
             subject_label="due_soon"),
    MailKind("escalation", "escalation.txt.j2", "auto-generated", to_staff=True,
             subject_label="overdue"),
    MailKind("feedback_request", "feedback_request.txt.j2", "auto-generated", to_staff=False),
    MailKind("feedback_low", "feedback_low.txt.j2", "auto-generated", to_staff=True,
             subject_label="low_grade"),
)}

#: Kinds whose Message-ID, referenced by a reply from the person it went to, proves them.
TO_STAFF: tuple[str, ...] = tuple(k.name for k in KINDS.values() if k.to_staff)
#: Every template a language needs for every kind.
TEMPLATES: frozenset[str] = frozenset(k.template for k in KINDS.values())
