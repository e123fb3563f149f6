"""``mailticket search``: ranked full-text over the tickets' subjects and mails."""

from __future__ import annotations

import click

from mailticket.commands.base import (
    Ctx,
    department_name,
    department_option,
    emit,
    json_option,
    pass_ctx,
)
from mailticket.store.states import STATES


@click.command()
@click.argument("query", nargs=-1, required=True)
@department_option
@click.option("--state", "-s", type=click.Choice(STATES), help="only tickets in this state")
@click.option("--limit", "-n", type=click.IntRange(1, 1000), default=20, show_default=True,
              help="at most this many tickets")
@json_option
@pass_ctx
def search(ctx: Ctx, query: tuple[str, ...], department: str | None, state: str | None,
           limit: int, as_json: bool) -> None:
    """Tickets whose subject or mails hold every word of QUERY, in any of the six
    languages and in any inflected form ("passwords" finds "password"), best first."""
    from mailticket.mail.subject import tag
    from mailticket.search.query import search as run

    words = " ".join(query).strip()
    if not words:
        raise click.BadParameter("give at least one word to look for", param_hint="QUERY")
    app = ctx.app()
    name = department_name(app, department)
    with app.db.read_connection() as conn:
        hits = run(conn, words, department=name, state=state, limit=limit)
    rows = []
    for h in hits:
        try:
            word = app.config.department(h.department).tag_word
        except KeyError:
            word = h.department.capitalize()
        rows.append({"ticket": h.ticket, "ref": tag(word, h.ticket), "subject": h.subject,
                     "score": h.score, "snippet": h.snippet})
    text = "\n".join(f"{r['ref']} {r['subject']}  ({r['score']:.2f})\n    {r['snippet']}"
                     for r in rows) or f"no ticket holds {words!r}"
    emit({"query": words, "hits": rows} if as_json else rows, as_json, text)
