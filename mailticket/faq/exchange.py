"""FAQ files: the TOML an admin imports (``[[faq]]`` tables) and the pages exported for
the shop (Markdown, HTML, JSON), grouped per department and language.  Pure."""

from __future__ import annotations

import html
import json
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

KEYS = ("department", "language", "question", "answer")
OPTIONAL = ("state",)
STATES = ("draft", "published")


class FaqFileError(ValueError):
    """A FAQ file that cannot be imported; the message names the table and key."""


@dataclass(frozen=True)
class NewEntry:
    department: str
    language: str
    question: str
    answer: str
    state: str = "published"


def parse_toml(text: str, departments: Sequence[str], languages: Sequence[str]
               ) -> list[NewEntry]:
    """Every ``[[faq]]`` table, or a FaqFileError naming each problem (``faq[2].answer``)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise FaqFileError(f"not TOML: {e}") from None
    extra = sorted(set(data) - {"faq"})
    problems = [f"{k}: unknown table or key (only [[faq]] tables)" for k in extra]
    tables = data.get("faq", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise FaqFileError("faq: write each entry as a [[faq]] table")
    if not tables and not problems:
        problems.append("faq: no [[faq]] tables in the file")
    out = []
    for i, table in enumerate(tables, 1):
        where = f"faq[{i}]"
        for key in sorted(set(table) - set(KEYS) - set(OPTIONAL)):
            problems.append(f"{where}.{key}: unknown key (known: {', '.join(KEYS + OPTIONAL)})")
        values: dict[str, str] = {}
        for key in KEYS:
            value = table.get(key)
            if not isinstance(value, str) or not value.strip():
                problems.append(f"{where}.{key}: missing (a non-empty string)")
            else:
                values[key] = value.strip()
        state = table.get("state", "published")
        if state not in STATES:
            problems.append(f"{where}.state: {state!r} is not one of {', '.join(STATES)}")
        if values.get("department") and values["department"] not in departments:
            problems.append(f"{where}.department: no department {values['department']!r}; "
                            f"known: {', '.join(departments)}")
        if values.get("language") and values["language"] not in languages:
            problems.append(f"{where}.language: {values['language']!r} is not a supported "
                            f"language ({', '.join(languages)})")
        if len(values) == len(KEYS):
            out.append(NewEntry(state=str(state), **values))
    if problems:
        raise FaqFileError("; ".join(problems))
    return out


def grouped(entries: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], list[Mapping[str, Any]]]:
    """Entries per (department, language), in a stable order."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for e in sorted(entries, key=lambda e: (e["department"], e["language"], e["id"])):
        groups.setdefault((e["department"], e["language"]), []).append(e)
    return groups


def markdown(entries: Iterable[Mapping[str, Any]]) -> str:
    parts = []
    for (dept, lang), items in grouped(entries).items():
        parts.append(f"# {dept} ({lang})\n")
        for e in items:
            parts.append(f"## {e['question']}\n\n{e['answer'].strip()}\n")
    return "\n".join(parts)


def to_html(entries: Iterable[Mapping[str, Any]]) -> str:
    """A fragment per department and language, ``lang`` set so browsers and screen
    readers pick the right language; everything escaped."""
    parts = []
    for (dept, lang), items in grouped(entries).items():
        e = html.escape
        parts.append(f'<section class="faq" lang="{e(lang)}" data-department="{e(dept)}">')
        parts.append(f"<h1>{e(dept)}</h1>")
        for item in items:
            paragraphs = "".join(f"<p>{e(p.strip())}</p>"
                                 for p in item["answer"].split("\n\n") if p.strip())
            parts.append(f"<h2>{e(item['question'])}</h2>\n{paragraphs}")
        parts.append("</section>")
    return "\n".join(parts) + "\n"


def to_json(entries: Iterable[Mapping[str, Any]]) -> str:
    """``[{department, language, entries: [{id, question, answer}]}]``."""
    return json.dumps([
        {"department": dept, "language": lang,
         "entries": [{"id": e["id"], "question": e["question"], "answer": e["answer"]}
                     for e in items]}
        for (dept, lang), items in grouped(entries).items()], indent=2, ensure_ascii=False)


FORMATS = {"markdown": markdown, "html": to_html, "json": to_json}
