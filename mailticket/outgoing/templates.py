"""Finding and rendering the Jinja2 templates of the mails we send.

Search order for ``<name>`` in language ``<lang>`` for department ``<dept>``:
the department's ``template_dir``, the global ``template_dir``, then the built-in
``templates/`` folder; in each, ``<dept>/<lang>/``, then ``<lang>/``.  The
languages tried are the customer's, the department's, then English, so a missing
translation falls back instead of failing.
"""

from __future__ import annotations

import time
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import jinja2

from mailticket.languages import format_instant, label
from mailticket.outgoing.hours import describe_hours, describe_reopening

# Pure functions of their arguments, and the mails of a batch share one instant and
# one due time: worked out once per batch, not once per auto-response (Babel and the
# calendar walk were ~7 % of the writer's time in a backlog, docs/benchmarks.md).
_instant = lru_cache(maxsize=256)(format_instant)
_hours = lru_cache(maxsize=256)(describe_hours)
_reopening = lru_cache(maxsize=256)(describe_reopening)
CHECK_EVERY = 1.0  # seconds between two looks at a template file's mtime


@cache
def builtin_dir() -> Path:
    """Installed wheels carry the templates inside the package; a checkout has them at the top."""
    inside = Path(__file__).resolve().parent.parent / "templates"
    return inside if inside.is_dir() else Path(__file__).resolve().parents[2] / "templates"


class Templates:
    def __init__(self, global_dir: str | None = None) -> None:
        self.global_dir = Path(global_dir) if global_dir else None
        self._envs: dict[tuple[str, ...], jinja2.Environment] = {}
        # Which file answers (dirs, name, department, languages): looked up once per
        # process; edits to that file are still picked up (Jinja checks its mtime, here
        # at most once a second: a stat per mail was 1.5 % of a backlog's writer).
        self._found: dict[tuple[object, ...], str] = {}
        self._loaded: dict[tuple[tuple[str, ...], str], tuple[jinja2.Template, float]] = {}

    def _env(self, dirs: tuple[str, ...]) -> jinja2.Environment:
        env = self._envs.get(dirs)
        if env is None:
            env = jinja2.Environment(
                loader=jinja2.FileSystemLoader(list(dirs)),
                autoescape=False,  # plain-text mail; nothing here is HTML
                undefined=jinja2.StrictUndefined,
                keep_trailing_newline=True,
                trim_blocks=True,
                lstrip_blocks=True,
            )
            env.filters["instant"] = _instant
            env.filters["label"] = label
            env.filters["opening_hours"] = _hours
            env.filters["reopening"] = _reopening
            self._envs[dirs] = env
        return env

    def candidates(self, name: str, department: str, languages: list[str]) -> list[str]:
        seen: list[str] = []
        for lang in languages:
            for path in (f"{department}/{lang}/{name}", f"{lang}/{name}"):
                if path not in seen:
                    seen.append(path)
        return seen

    def render(
        self, name: str, *, dept_name: str, dept_dir: str | None, languages: list[str],
        **context: Any,
    ) -> tuple[str, str]:
        """Rendered text and the language actually used."""
        dirs = tuple(str(d) for d in (dept_dir, self.global_dir, builtin_dir()) if d)
        env = self._env(dirs)
        key = (dirs, name, dept_name, *languages)
        path = self._found.get(key)
        if path is None:
            path = self._find(env, name, dept_name, languages, dirs)
            self._found[key] = path
        lang = path.split("/")[-2]
        template = self._template(env, dirs, path)
        return template.render(language=lang, **context), lang

    def _template(self, env: jinja2.Environment, dirs: tuple[str, ...], path: str
                  ) -> jinja2.Template:
        now = time.monotonic()
        held = self._loaded.get((dirs, path))
        if held is not None and now - held[1] < CHECK_EVERY:
            return held[0]
        template = env.get_template(path)  # reloaded if the file changed
        if type(template.globals) is not dict:
            # Jinja keeps a template's globals as a ChainMap over the environment's and
            # copies it four times per render; we never change globals once loaded.
            template.globals = dict(template.globals)
        self._loaded[(dirs, path)] = (template, now)
        return template

    def _find(self, env: jinja2.Environment, name: str, dept_name: str, languages: list[str],
              dirs: tuple[str, ...]) -> str:
        langs = [lang for lang in dict.fromkeys([*languages, "en"]) if lang]
        for path in self.candidates(name, dept_name, langs):
            try:
                env.get_template(path)
            except jinja2.TemplateNotFound:
                continue
            return path
        raise LookupError(f"template {name!r} not found in {', '.join(dirs)}")
