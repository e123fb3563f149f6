"""The one object that sends a ticket's mail: the pipeline, agent replies, the CLI and
the escalator call ``Mailer``.  What each notice says and to whom is in
``to_customer.py`` and ``to_staff.py``; what every kind of mail is, in ``kinds.py``.
"""

from __future__ import annotations

from mailticket.outgoing.to_customer import CustomerMail
from mailticket.outgoing.to_staff import StaffMail


class Mailer(CustomerMail, StaffMail):
    """Every notice, each rendered from its kind's template, built by ``compose`` and
    queued in the caller's transaction (``Mailer(config, templates, secret)``)."""
