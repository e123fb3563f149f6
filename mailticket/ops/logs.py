"""Log lines as text or as one JSON object per line, with the mail at hand as fields.

A log shipper (journald, Loki, Elasticsearch) filters by field, not by grepping text:
the pipeline sets the mail's Message-ID and source around each mail (``mail_context``),
and lines that know the ticket and department pass them with ``extra=``; a filter puts
what the context holds on every record, whichever module logs it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Literal

from pythonjsonlogger.json import JsonFormatter

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# The fields every JSON line starts with; the mail's own fields follow when known.
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"

_mail: ContextVar[dict[str, object] | None] = ContextVar("mailticket_mail", default=None)


@contextmanager
def mail_context(**fields: object) -> Iterator[None]:
    """Every log line inside carries these fields (message_id, source …)."""
    token = _mail.set({**(_mail.get() or {}), **fields})
    try:
        yield
    finally:
        _mail.reset(token)


class MailFields(logging.Filter):
    """Puts the mail at hand on the record, without overriding what ``extra=`` gave."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_mail.get() or {}).items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def json_formatter() -> logging.Formatter:
    return JsonFormatter(JSON_FIELDS, rename_fields={"levelname": "level", "name": "logger",
                                                     "asctime": "time"},
                         json_ensure_ascii=False)


def use_format(fmt: Literal["text", "json"]) -> None:
    """Switch the root logger's handlers to ``fmt`` (the config is read after logging
    starts, so the command line's text format is replaced here)."""
    root = logging.getLogger()
    formatter = json_formatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT)
    for handler in root.handlers:
        handler.setFormatter(formatter)
        if not any(isinstance(f, MailFields) for f in handler.filters):
            handler.addFilter(MailFields())
    # Python's own warnings go to stderr as text unless they are log records too.
    logging.captureWarnings(fmt == "json")
