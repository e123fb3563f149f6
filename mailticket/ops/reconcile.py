"""Every mail in a department's mailbox against what became of it.

The poller's UID watermark says "everything up to here was handled"; a watermark
moved by hand, a restored database or a bug can make that untrue without a trace.
Each stored or quarantined mail keeps its source, ``imap:<department>:<uidvalidity>:<uid>``,
so a mailbox's UIDs (within its current UIDVALIDITY) can be accounted for one by one:
stored, quarantined, skipped (a duplicate: its Message-ID is stored, from another copy
or an older UIDVALIDITY), waiting (above the watermark: the next poll takes it), or
missing (below it and none of these: never processed).  ``fix`` puts the missing ones
through the normal ingest path; a duplicate check makes a repeat harmless.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import message_from_bytes
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailticket.app import App
from mailticket.config import DepartmentConfig
from mailticket.incoming.message_ids import extract_ids
from mailticket.ingest.imap import FETCH_BATCH, ImapPoller, connect
from mailticket.store.models import MailboxState, Message, Quarantine

LATE = timedelta(days=1)  # mail that waited longer gets no auto-response when fixed
LATE_REASON = "received more than a day before it was processed (reconcile --fix)"


@dataclass
class Account:
    """One mailbox, UID by UID; ``missing`` is what was never processed."""

    department: str
    folder: str
    uidvalidity: int
    watermark: int  # 0 when the poller has not synced this UIDVALIDITY yet
    in_mailbox: int
    stored: list[int] = field(default_factory=list)
    quarantined: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    waiting: list[int] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)
    fixed: dict[str, int] = field(default_factory=dict)  # outcome action -> mails

    def as_json(self) -> dict[str, Any]:
        return {"department": self.department, "folder": self.folder,
                "uidvalidity": self.uidvalidity, "watermark": self.watermark,
                "in_mailbox": self.in_mailbox, "stored": len(self.stored),
                "quarantined": len(self.quarantined), "skipped": len(self.skipped),
                "waiting": len(self.waiting), "missing": self.missing, "fixed": self.fixed}


def source_uid(source: str, department: str, uidvalidity: int) -> int | None:
    """The UID in a source of this mailbox and UIDVALIDITY, else None."""
    prefix = f"imap:{department}:{uidvalidity}:"
    if not source.startswith(prefix):
        return None
    tail = source[len(prefix):]
    return int(tail) if tail.isdigit() else None


def account(department: str, folder: str, uidvalidity: int, watermark: int,
            uids: Iterable[int], stored: Collection[int], quarantined: Collection[int],
            message_ids: Mapping[int, str | None], known: Collection[str]) -> Account:
    """Sort the mailbox's UIDs.  ``message_ids``: the Message-ID of each UID that is
    neither stored nor quarantined; ``known``: those of them stored already."""
    uids = sorted(set(uids))
    out = Account(department, folder, uidvalidity, watermark, len(uids))
    for uid in uids:
        if uid in stored:
            out.stored.append(uid)
        elif uid in quarantined:
            out.quarantined.append(uid)
        elif message_ids.get(uid) in known:
            out.skipped.append(uid)
        elif uid > watermark:
            out.waiting.append(uid)
        else:
            out.missing.append(uid)
    return out


# -- the edges: the mailbox and the database -----------------------------------------

def _uids_from(s: Session, model: type[Message] | type[Quarantine], department: str,
               uidvalidity: int) -> set[int]:
    rows = s.scalars(select(model.source).where(
        model.source.like(f"imap:{department}:{uidvalidity}:%")))
    return {u for src in rows if (u := source_uid(src, department, uidvalidity)) is not None}


def _header_ids(client: Any, uids: list[int]) -> dict[int, str | None]:
    out: dict[int, str | None] = {}
    key = b"BODY[HEADER.FIELDS (MESSAGE-ID)]"
    for i in range(0, len(uids), FETCH_BATCH):
        data = client.fetch(uids[i:i + FETCH_BATCH], ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
        for uid, item in data.items():
            header = message_from_bytes(bytes(item.get(key, b""))).get("Message-ID")
            ids = extract_ids(str(header)) if header else []
            out[uid] = ids[0] if ids else None
    return out


def survey(app: App, dept: DepartmentConfig) -> Account:
    """Read the mailbox (read-only) and the database, and account for every UID."""
    assert dept.imap is not None
    client = connect(dept.imap)
    try:
        info = client.select_folder(dept.imap.folder, readonly=True)
        uidvalidity = int(info[b"UIDVALIDITY"])
        uids = list(client.search(["ALL"]))
        with app.db.read() as s:
            state = s.scalar(select(MailboxState).where(
                MailboxState.department == dept.name, MailboxState.folder == dept.imap.folder))
            watermark = (state.last_uid if state is not None
                         and state.uidvalidity == uidvalidity else 0)
            stored = _uids_from(s, Message, dept.name, uidvalidity)
            quarantined = _uids_from(s, Quarantine, dept.name, uidvalidity)
        unaccounted = [u for u in uids if u not in stored and u not in quarantined]
        ids = _header_ids(client, unaccounted) if unaccounted else {}
        with app.db.read() as s:
            wanted = {i for i in ids.values() if i}
            known = set(s.scalars(select(Message.message_id).where(
                Message.message_id.in_(wanted)))) if wanted else set()
    finally:
        client.logout()
    return account(dept.name, dept.imap.folder, uidvalidity, watermark, uids, stored,
                   quarantined, ids, known)


def fix(app: App, dept: DepartmentConfig, found: Account, now: datetime) -> Account:
    """Process the missing mails as the poller would have; mail that arrived in the
    mailbox more than ``LATE`` before ``now`` gets no auto-response (agents are still
    told).  The watermark is already past them and stays where it is."""
    assert dept.imap is not None
    if not found.missing:
        return found
    poller = ImapPoller(app, dept)
    client = connect(dept.imap)
    try:
        info = client.select_folder(dept.imap.folder, readonly=True)
        if int(info[b"UIDVALIDITY"]) != found.uidvalidity:
            raise RuntimeError(f"{dept.name}: UIDVALIDITY changed since the survey; "
                               "run reconcile again")
        for i in range(0, len(found.missing), FETCH_BATCH):
            batch = found.missing[i:i + FETCH_BATCH]
            data = client.fetch(batch, ["BODY.PEEK[]", "INTERNALDATE"])
            items = []
            for uid in batch:
                if b"BODY[]" not in data.get(uid, {}):
                    continue  # expunged since the survey: nothing left to process
                source = poller._source(found.uidvalidity, uid)
                arrived = data[uid].get(b"INTERNALDATE")
                if isinstance(arrived, datetime) and _late(arrived, now):
                    app.pipeline.quiet[source] = LATE_REASON
                items.append((bytes(data[uid][b"BODY[]"]), source))
            if not items:
                continue
            try:
                outcomes = app.ingest_batch(items, department=dept.name, also=_nothing)
            finally:
                for _, source in items:
                    app.pipeline.quiet.pop(source, None)
            for outcome in outcomes:
                found.fixed[outcome.action] = found.fixed.get(outcome.action, 0) + 1
    finally:
        client.logout()
    return found


def _late(arrived: datetime, now: datetime) -> bool:
    """IMAPClient gives INTERNALDATE in local time without a zone unless told otherwise."""
    if arrived.tzinfo is None:
        arrived = arrived.astimezone()  # naive: the local time of this machine
    return now - arrived > LATE


def _nothing(s: Session) -> None:
    """The watermark is already past the mails fixed: nothing else to commit with them."""
