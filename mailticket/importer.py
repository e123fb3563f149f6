"""A shared mailbox's past, brought in so reports work from the first day.

The mails (an mbox file or a Maildir folder, INBOX and Sent alike) go through the
same prepare → classify → thread → store path as live mail, in arrival order and
each at its own arrival instant, with a mailer that sends nothing: no outbox rows, no
auto-response, no notification. Only the staff's own mails take another way: an
answer from the department's address or one of its agents to a stored mail is an
agent answer at its time (it went out back then; live, the pipeline would want proof
that it is the agent's). Importing the same mails again finds every Message-ID stored
and adds nothing.
"""

from __future__ import annotations

import mailbox
import os
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from multiprocessing.pool import AsyncResult, Pool
from pathlib import Path
from typing import Any

from sqlalchemy import select

from mailticket import agent
from mailticket.actions import change_state
from mailticket.app import App
from mailticket.config import LanguageConfig
from mailticket.incoming.language import LanguageDetector
from mailticket.incoming.message_ids import extract_ids, synthetic_id
from mailticket.incoming.prepare import Prepared, Preparer
from mailticket.pipeline import MailAtHand, Pipeline
from mailticket.sla.clock import stop_clock
from mailticket.store.batch import bounded_references
from mailticket.store.models import Message, Ticket
from mailticket.store.writes import Writes

#: Mails written per transaction: the pipeline's batch reads look them up together.
CHUNK = 500
SOURCE = "import"

# The header block, and the Received/Date fields in it with their folded lines.
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_FIELD = re.compile(rb"^(received|date|message-id)[ \t]*:(.*(?:\r?\n[ \t].*)*)",
                    re.IGNORECASE | re.MULTILINE)


class NotAMailbox(ValueError):
    """A path that is neither an mbox file nor a Maildir folder."""


def _date(text: str) -> datetime | None:
    try:
        found = parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if found is None:
        return None
    return found.replace(tzinfo=UTC) if found.tzinfo is None else found.astimezone(UTC)


def arrival(received: Sequence[str], date: str | None) -> datetime | None:
    """When a mail arrived: the date of its first (topmost) Received header, written by
    the last server, the mailbox's own; else its Date; None when neither has one."""
    if received:
        _, sep, when = received[0].rpartition(";")
        found = _date(when) if sep else None
        if found is not None:
            return found
    return _date(date) if date else None


def _scan_headers(raw: bytes) -> tuple[datetime | None, str]:
    """``arrival`` and Message-ID of a raw mail, read from its header block alone (a full
    parse per mail would be most of the time of scanning a large mailbox); the id as the
    parser makes it, so stored mails are known before they are parsed."""
    end = _HEADER_END.search(raw)
    head = raw[:end.start()] if end else raw
    received: list[str] = []
    date: str | None = None
    ids: list[str] = []
    for name, value in _FIELD.findall(head):
        text = re.sub(r"\s+", " ", value.decode("utf-8", "replace")).strip()
        key = name.lower()
        if key == b"received":
            received.append(text)
        elif key == b"date" and date is None:
            date = text
        elif key == b"message-id" and not ids:
            ids = extract_ids(text) or [""]
    message_id = ids[0] if ids and ids[0] else synthetic_id(raw)
    return arrival(received, date), message_id


class _Mbox(mailbox.mbox):
    """``mailbox.mbox`` with its table of contents found by searching the mapped file:
    the standard one reads the file a line at a time in Python, before any worker
    starts.  Same rules: a message
    starts at each line beginning "From ", and ends before the blank line before the
    next one (or at it, when none is blank)."""

    def _generate_toc(self) -> None:
        import mmap

        file: Any = self._file  # type: ignore[attr-defined]  # the stdlib's own
        file.seek(0, 2)
        size = file.tell()
        starts: list[int] = []
        stops: list[int] = []
        if size:
            with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                for p in _from_lines(mm):
                    if starts:
                        stops.append(p - 1 if _blank_before(mm, p) else p)
                    starts.append(p)
                if starts:
                    stops.append(size - 1 if _blank_before(mm, size) else size)
        self._toc = dict(enumerate(zip(starts, stops, strict=True)))
        self._next_key = len(self._toc)
        self._file_length = size

    def head(self, key: str) -> bytes:
        """The start of a mail (its header block, mostly), without reading all of it."""
        start, stop = self._lookup(key)  # type: ignore[attr-defined]
        file: Any = self._file  # type: ignore[attr-defined]
        file.seek(start)
        file.readline()
        return bytes(file.read(max(0, min(stop - file.tell(), _HEAD))))


def _from_lines(mm: Any) -> Iterator[int]:
    """Where each line that begins "From " begins."""
    if mm[:5] == b"From ":
        yield 0
    p = mm.find(b"\nFrom ")
    while p >= 0:
        yield p + 1
        p = mm.find(b"\nFrom ", p + 1)

_HEAD = 64 * 1024


def _blank_before(mm: Any, p: int) -> bool:
    """Whether the line that ends at ``p`` is empty (and is not the first "From " line)."""
    return p >= 2 and mm[p - 1:p] == b"\n" and mm[p - 2:p - 1] == b"\n"


def open_mailbox(path: str) -> mailbox.Mailbox:
    """An mbox file or a Maildir folder (with cur/ and new/), read only."""
    p = Path(path)
    if p.is_dir():
        if (p / "cur").is_dir() or (p / "new").is_dir():
            return mailbox.Maildir(p, factory=None, create=False)
        raise NotAMailbox(f"{path}: a folder but not a Maildir (no cur/ or new/ in it)")
    if p.is_file():
        with p.open("rb") as f:
            head = f.read(5)
        if head and head != b"From ":
            raise NotAMailbox(f"{path}: not an mbox file (it does not start with 'From ')")
        return _Mbox(p, factory=None, create=False)
    raise NotAMailbox(f"{path}: no such file or folder")


@dataclass
class Summary:
    mails: int = 0
    tickets: int = 0
    messages: int = 0
    answers: int = 0
    closed: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {"mails": self.mails, "tickets": self.tickets, "messages": self.messages,
                "answers": self.answers, "closed": self.closed,
                "skipped": sum(self.skipped.values()),
                "skipped_reasons": dict(sorted(self.skipped.items()))}


class _Silent:
    """The mailer of history: everything that would be sent is dropped, nothing is queued."""

    instance = ""

    def auto_response(self, *args: object, **kw: object) -> bool:
        return False

    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args, **kw: None


_preparer: Preparer | None = None


def _start_worker(languages: LanguageConfig, own: frozenset[str], instance: str) -> None:
    global _preparer
    _preparer = Preparer(LanguageDetector(frozenset(languages.supported),
                                          low_memory=languages.low_memory),
                         languages.min_confidence, own, instance)


def _prepare(raw: bytes) -> Prepared | str:
    """A mail prepared in a worker; the error's name when it cannot be."""
    assert _preparer is not None
    if not raw:  # stored already: not read, not prepared
        return "stored"
    try:
        return _preparer.prepare(raw)
    except Exception as error:  # noqa: BLE001 - reported as skipped, never fatal
        return type(error).__name__


@dataclass(frozen=True)
class _Entry:
    at: datetime
    box: int
    key: str
    message_id: str


class Importer:
    def __init__(self, app: App, department: str, closed_after: timedelta) -> None:
        self.app = app
        self.config = app.config
        self.dept = app.config.department(department)
        self.closed_after = closed_after
        self.pipeline = Pipeline(app.config, app.clock, app.secret, app.templates)
        self.pipeline.mailer = _Silent()  # type: ignore[assignment]
        self.staff = agent.staff(self.dept) | {self.dept.address.lower()}
        self.summary = Summary()
        self._touched: set[int] = set()

    def scan(self, paths: Sequence[str]) -> tuple[list[mailbox.Mailbox], list[_Entry]]:
        """Every mail's arrival, read from its headers only, in arrival order."""
        boxes = [open_mailbox(p) for p in paths]
        entries = []
        for i, box in enumerate(boxes):
            for key in box.iterkeys():
                self.summary.mails += 1
                head = box.head(key) if isinstance(box, _Mbox) else box.get_bytes(key)
                at, message_id = _scan_headers(head)
                if at is None and isinstance(box, _Mbox) and len(head) == _HEAD:
                    at, message_id = _scan_headers(box.get_bytes(key))  # a huge header
                if at is None:
                    self.summary.skipped["no Received or Date header with a date"] += 1
                    continue
                entries.append(_Entry(at, i, key, message_id))
        entries.sort(key=lambda e: e.at)
        return boxes, entries

    def run(self, paths: Sequence[str]) -> Summary:
        return self.load(*self.scan(paths))

    def load(self, boxes: list[mailbox.Mailbox], entries: list[_Entry],
             progress: Callable[[int], None] = lambda n: None) -> Summary:
        """Store the scanned mails, CHUNK per transaction; ``progress(n)`` after each.
        Worker processes prepare (parse, classify, detect the language of) the next
        chunk while this one is written."""
        chunks = [entries[i:i + CHUNK] for i in range(0, len(entries), CHUNK)]
        preparer = self.pipeline.preparer
        workers = min(len(os.sched_getaffinity(0)), 4) if len(entries) > CHUNK else 0
        pool = Pool(workers, _start_worker, (self.config.languages, preparer.own,
                                             preparer.instance)) if workers else None

        def submit(chunk: list[_Entry]) -> AsyncResult[list[Prepared | str]] | list[
                Prepared | str]:
            raws = [b"" if e.message_id in known else boxes[e.box].get_bytes(e.key)
                    for e in chunk]
            if pool is None:
                out: list[Prepared | str] = []
                for raw in raws:
                    if not raw:
                        out.append("stored")
                        continue
                    try:
                        out.append(preparer.prepare(raw))
                    except Exception as error:  # noqa: BLE001 - reported as skipped
                        out.append(type(error).__name__)
                return out
            return pool.map_async(_prepare, raws, chunksize=25)

        # Mails stored by an earlier import are not prepared again (same Message-ID).
        known = self._stored([e.message_id for e in entries])
        try:
            pending = submit(chunks[0]) if chunks else None
            for n, chunk in enumerate(chunks):
                assert pending is not None
                done = pending if isinstance(pending, list) else pending.get()
                pending = submit(chunks[n + 1]) if n + 1 < len(chunks) else None
                self._write(chunk, done, known)
                progress(len(chunk))
        finally:
            if pool is not None:
                pool.terminate()
        self._close_old()
        for box in boxes:
            box.close()
        # The history's finished days summed now, so its first report is quick.
        from mailticket.report import days

        days.run(self.app.db, self.app.config, self.app.clock.now())
        return self.summary

    def _stored(self, ids: list[str]) -> set[str]:
        found: set[str] = set()
        with self.app.db.read() as s:
            for start in range(0, len(ids), CHUNK):
                found.update(s.scalars(select(Message.message_id).where(
                    Message.message_id.in_(ids[start:start + CHUNK]))))
        return found

    def _write(self, chunk: list[_Entry], done: list[Prepared | str], known: set[str]
               ) -> None:
        prepared: list[tuple[_Entry, Prepared]] = []
        for e, p in zip(chunk, done, strict=True):
            if e.message_id in known:
                self.summary.skipped["already imported (Message-ID stored)"] += 1
            elif isinstance(p, str):
                self.summary.skipped[f"unreadable: {p}"] += 1
            else:
                prepared.append((e, p))
        with self.app.db.transaction() as s:
            reads = self.pipeline.batch(s, [p for _, p in prepared])
            writes = Writes(s)
            try:
                for e, p in prepared:
                    reads.now = e.at
                    self._one(s, reads, writes, p, e.at)
                writes.write()
            finally:
                writes.close()

    def _one(self, s: Any, reads: Any, writes: Writes, p: Prepared, at: datetime) -> None:
        mail = p.mail
        sender = mail.from_.key if mail.from_ else ""
        if sender in self.staff:
            self._answer(s, reads, writes, p, at)
            return
        try:
            outcome = self.pipeline.process_prepared(
                s, p, reads, writes, mailbox_department=self.dept.name, source=SOURCE)
        except Exception as error:  # noqa: BLE001 - e.g. no sender address: said, not kept
            self.summary.skipped[f"not importable: {error}"[:120]] += 1
            return
        if outcome.action == "duplicate":
            self.summary.skipped["already imported (Message-ID stored)"] += 1
        elif outcome.action == "unattached":
            self.summary.skipped[f"kept without a ticket: {outcome.reason}"[:120]] += 1
        else:
            self.summary.messages += 1
            self.summary.tickets += outcome.action == "new_ticket"
            if outcome.ticket_id is not None:
                self._touched.add(outcome.ticket_id)

    def _answer(self, s: Any, reads: Any, writes: Writes, p: Prepared, at: datetime) -> None:
        """A staff mail that answered a stored one: the agent's answer, at its time."""
        mail = p.mail
        if reads.lookup(mail.message_id)[0]:
            self.summary.skipped["already imported (Message-ID stored)"] += 1
            return
        ticket_id = reads.ticket_for_message_ids(
            bounded_references([*mail.in_reply_to, *reversed(mail.references)]))
        ticket = reads.ticket(ticket_id) if ticket_id else None
        if ticket is None:
            self.summary.skipped["staff mail answering no imported mail"] += 1
            return
        reads.remember(mail.message_id, p.fingerprint)
        staff = mail.from_.key if mail.from_ else self.dept.address
        hand = MailAtHand(s, reads, writes, p, SOURCE, at, self.dept)
        self.pipeline._store(hand, ticket, "agent", f"agent: {staff}, imported history")
        reads.stored_in(mail.message_id, ticket.id)
        writes.event(ticket.id, "answered", at, staff, message_id=mail.message_id)
        stop_clock(ticket, at)
        change_state(writes, ticket, "pending", staff, at)
        ticket.updated_at = at
        self.summary.messages += 1
        self.summary.answers += 1
        self._touched.add(ticket.id)

    def _close_old(self) -> None:
        """Tickets quiet for longer than the cutoff come in closed, as of the cutoff (an
        unanswered one then counts as unanswered past due, as it was). Not through
        ``change_state``: that would arm the "how did we do?" question."""
        now = self.app.clock.now()
        ids = sorted(self._touched)
        for start in range(0, len(ids), CHUNK):
            with self.app.db.transaction() as s:
                writes = Writes(s)
                try:
                    for t in s.query(Ticket).filter(Ticket.id.in_(ids[start:start + CHUNK])):
                        last = t.updated_at if t.updated_at.tzinfo else t.updated_at.replace(
                            tzinfo=UTC)
                        closes = last + self.closed_after
                        if t.state == "closed" or closes > now:
                            continue
                        writes.event(t.id, "state_changed", closes, "import", old=t.state,
                                     new="closed")
                        t.state, t.updated_at = "closed", closes
                        stop_clock(t, closes, answered=False)
                        self.summary.closed += 1
                    writes.write()
                finally:
                    writes.close()

