"""``mailticket faq``: the FAQ's entries per department and language, for admins."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from mailticket.commands.base import (
    Ctx,
    department_name,
    department_option,
    emit,
    json_option,
    pass_ctx,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from mailticket.store.models import FaqEntry


@click.group()
def faq() -> None:
    """The FAQ: entries per department and language, suggested in auto-responses."""


def _language(ctx: Ctx, value: str) -> str:
    supported = ctx.app().config.languages.supported
    if value not in supported:
        raise click.BadParameter(f"{value!r} is not a supported language; supported: "
                                 f"{', '.join(supported)}", param_hint="--language")
    return value


def _text(value: str | None, path: str | None, option: str, file_option: str) -> str | None:
    if value is not None and path is not None:
        raise click.UsageError(f"give {option} or {file_option}, not both")
    if path is not None:
        try:
            value = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise click.BadParameter(f"cannot read {path}: {e}", param_hint=file_option) from None
    if value is not None and not value.strip():
        raise click.BadParameter("is empty", param_hint=option)
    return value.strip() if value is not None else None


def _show(entry: dict[str, object]) -> str:
    origin = ("admin" if entry["origin"] == "admin" else
              f"{entry['origin_agent']} (#faq on ticket {entry['origin_ticket']})")
    return (f"#{entry['id']}  {entry['department']}/{entry['language']}  {entry['state']}  "
            f"suggested {entry['suggested']}, solved {entry['solved']}  from {origin}\n"
            f"Q: {entry['question']}\nA: {entry['answer']}")


def _entry_or_exit(s: Session, entry_id: int) -> FaqEntry:
    from mailticket.store.models import FaqEntry

    row = s.get(FaqEntry, entry_id)
    if row is None:
        raise click.BadParameter(f"no FAQ entry {entry_id}", param_hint="ID")
    return row


@faq.command()
@click.option("--department", "-d", metavar="NAME", required=True,
              help="the department whose auto-responses may suggest it")
@click.option("--language", "-l", metavar="CODE", required=True,
              help="the language of the question and answer (en, fr, sv, es, de, bg …)")
@click.option("--question", "-q", required=True, help="the question, as customers ask it")
@click.option("--answer", "-a", help="the answer")
@click.option("--answer-file", metavar="FILE", help="read the answer from this UTF-8 file")
@click.option("--draft", is_flag=True, help="keep it as a draft: not suggested until published")
@json_option
@pass_ctx
def add(ctx: Ctx, department: str, language: str, question: str, answer: str | None,
        answer_file: str | None, draft: bool, as_json: bool) -> None:
    """Add an entry (published unless --draft)."""
    from mailticket.faq import entries
    from mailticket.faq.exchange import NewEntry

    app = ctx.app()
    department_name(app, department)
    _language(ctx, language)
    q = _text(question, None, "--question", "")
    text = _text(answer, answer_file, "--answer", "--answer-file")
    if text is None:
        raise click.UsageError("give the answer: --answer TEXT or --answer-file FILE")
    assert q is not None
    with app.db.transaction() as s:
        row = entries.add(s, NewEntry(department, language, q, text,
                                      "draft" if draft else "published"), app.clock.now())
        s.flush()
        data = entries.as_dict(row)
    emit(data, as_json, f"added FAQ entry {data['id']} ({data['state']})")


@faq.command(name="list")
@department_option
@click.option("--language", "-l", metavar="CODE", help="only entries in this language")
@click.option("--state", type=click.Choice(["draft", "published"]), help="only these")
@json_option
@pass_ctx
def list_(ctx: Ctx, department: str | None, language: str | None, state: str | None,
          as_json: bool) -> None:
    """The entries, per department and language."""
    from mailticket.faq import entries

    app = ctx.app()
    department_name(app, department)
    with app.db.read() as s:
        data = [entries.as_dict(e) for e in entries.listing(
            s, department=department, language=language, state=state)]
    text = "\n".join(
        f"#{e['id']:<5} {e['department']}/{e['language']}  {e['state']:<9}  "
        f"suggested {e['suggested']:<4} solved {e['solved']:<4} {e['question']}"
        for e in data) or "no FAQ entries"
    emit(data, as_json, text)


@faq.command()
@click.argument("entry_id", metavar="ID", type=int)
@json_option
@pass_ctx
def show(ctx: Ctx, entry_id: int, as_json: bool) -> None:
    """One entry, with where it came from."""
    from mailticket.faq import entries

    app = ctx.app()
    with app.db.read() as s:
        data = entries.as_dict(_entry_or_exit(s, entry_id))
    emit(data, as_json, _show(data))


@faq.command()
@click.argument("entry_id", metavar="ID", type=int)
@click.option("--question", "-q", help="the new question")
@click.option("--answer", "-a", help="the new answer")
@click.option("--answer-file", metavar="FILE", help="read the new answer from this UTF-8 file")
@json_option
@pass_ctx
def edit(ctx: Ctx, entry_id: int, question: str | None, answer: str | None,
         answer_file: str | None, as_json: bool) -> None:
    """Change an entry's question or answer (a draft from #faq may hold one customer's
    details: edit it before publishing)."""
    from mailticket.faq import entries

    q = _text(question, None, "--question", "")
    a = _text(answer, answer_file, "--answer", "--answer-file")
    if q is None and a is None:
        raise click.UsageError("nothing to change: give --question, --answer or --answer-file")
    app = ctx.app()
    with app.db.transaction() as s:
        row = _entry_or_exit(s, entry_id)
        if q is not None:
            row.question = q
        if a is not None:
            row.answer = a
        row.updated_at = app.clock.now()
        data = entries.as_dict(row)
    emit(data, as_json, f"FAQ entry {entry_id} changed")


@faq.command()
@click.argument("entry_id", metavar="ID", type=int)
@json_option
@pass_ctx
def publish(ctx: Ctx, entry_id: int, as_json: bool) -> None:
    """Make a draft suggestible."""
    from mailticket.faq import entries

    app = ctx.app()
    with app.db.transaction() as s:
        row = _entry_or_exit(s, entry_id)
        if row.state != "published":
            row.state = "published"
            row.updated_at = app.clock.now()
        data = entries.as_dict(row)
    emit(data, as_json, f"FAQ entry {entry_id} published")


@faq.command()
@click.argument("entry_id", metavar="ID", type=int)
@json_option
@pass_ctx
def remove(ctx: Ctx, entry_id: int, as_json: bool) -> None:
    """Delete an entry."""
    app = ctx.app()
    with app.db.transaction() as s:
        row = _entry_or_exit(s, entry_id)
        s.delete(row)
    emit({"id": entry_id, "removed": True}, as_json, f"FAQ entry {entry_id} removed")


@faq.command(name="import")
@click.argument("path", metavar="FILE", type=click.Path(dir_okay=False))
@json_option
@pass_ctx
def import_(ctx: Ctx, path: str, as_json: bool) -> None:
    """Add the entries of a TOML file of [[faq]] tables (department, language, question,
    answer; state = "draft" optional).  All or nothing."""
    from mailticket.faq import entries
    from mailticket.faq.exchange import FaqFileError, parse_toml

    app = ctx.app()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise click.BadParameter(f"cannot read {path}: {e}", param_hint="FILE") from None
    try:
        new = parse_toml(text, [d.name for d in app.config.departments],
                         app.config.languages.supported)
    except FaqFileError as e:
        raise click.BadParameter(f"{path}: {e}", param_hint="FILE") from None
    now = app.clock.now()
    with app.db.transaction() as s:
        rows = [entries.add(s, e, now) for e in new]
        s.flush()
        ids = [r.id for r in rows]
    emit({"imported": len(ids), "ids": ids}, as_json, f"imported {len(ids)} FAQ entries")


@faq.command()
@click.option("--format", "fmt", type=click.Choice(["markdown", "html", "json"]),
              default="markdown", show_default=True,
              help="markdown (a heading per question), html (a <section> per department "
                   "and language, to paste into a page) or json")
@department_option
@click.option("--language", "-l", metavar="CODE", help="only this language")
@click.option("--out", metavar="FILE", help="write here instead of standard output")
@pass_ctx
def export(ctx: Ctx, fmt: str, department: str | None, language: str | None,
           out: str | None) -> None:
    """The published entries, per department and language, for the shop's FAQ page."""
    from mailticket.faq import entries
    from mailticket.faq.exchange import FORMATS

    app = ctx.app()
    department_name(app, department)
    with app.db.read() as s:
        rows = [entries.as_dict(e) for e in entries.listing(
            s, department=department, language=language, state="published")]
    page = FORMATS[fmt](rows)
    if out:
        Path(out).write_text(page, encoding="utf-8")
    else:
        click.echo(page, nl=not page.endswith("\n"))


@faq.command()
@department_option
@click.option("--days", type=click.IntRange(min=1), default=90, show_default=True,
              help="questions of the last N days")
@click.option("--min", "min_size", type=click.IntRange(min=2), default=5, show_default=True,
              help="clusters of at least K questions")
@json_option
@pass_ctx
def candidates(ctx: Ctx, department: str | None, days: int, min_size: int,
               as_json: bool) -> None:
    """What customers keep asking that no published entry answers: clusters of similar
    questions, largest first, per language, with the agents' usual answer as a draft."""
    from datetime import timedelta

    from mailticket.faq.suggest import answered_by_entries
    from mailticket.search.clusters import candidates as clusters

    app = ctx.app()
    name = department_name(app, department)
    since = app.clock.now() - timedelta(days=days)
    with app.db.read() as s:
        found = clusters(s, app.config, name, since, min_size, answered=answered_by_entries(s))
    text = "\n\n".join(
        f"{c['size']} questions ({c['language'] or '?'}, {c['department']}): "
        + "; ".join(c["subjects"]) + "\n  tickets " + ", ".join(map(str, c["tickets"][:20]))
        + ("\n  usual answer: " + " ".join(c["draft_answer"].split())[:300]
           if c["draft_answer"] else "")
        for c in found) or f"no {min_size} similar questions in the last {days} days"
    emit({"since": since.isoformat(), "clusters": found}, as_json, text)
