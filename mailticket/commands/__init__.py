"""Commands of ``mailticket``, one module per domain, added to the group in ``cli.py``.

``cli.py`` keeps the commands of the first release; a new domain gets a module
here and one line in ``COMMANDS``.
"""

from __future__ import annotations

import click

from mailticket.commands import ops, reconcile, report, search

COMMANDS: list[click.Command] = [
    report.report,
    ops.health,
    reconcile.reconcile,
    search.search,
    search.faq_candidates,  # moves to the faq commands as `faq candidates`
]
