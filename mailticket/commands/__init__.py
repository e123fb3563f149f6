"""Commands of ``mailticket``, one module per domain, added to the group in ``cli.py``.

``cli.py`` keeps the commands of the first release; a new domain gets a module
here and one line in ``COMMANDS``.
"""

from __future__ import annotations

import click

from mailticket.commands import customer, faq, history, ops, reconcile, report, search, staffing

COMMANDS: list[click.Command] = [
    report.report,
    staffing.staffing,
    history.import_,
    search.search,
    faq.faq,
    customer.customer, customer.purge,
    ops.health,
    reconcile.reconcile,
]
