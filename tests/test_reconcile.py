"""`mailticket reconcile`: every mail in a mailbox is accounted for against what was
stored, quarantined or skipped; what a watermark moved by hand skipped over is listed,
and `--fix` processes it (without an auto-response for mail that waited over a day)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from mailticket.ops.reconcile import account, source_uid
from mailticket.store.models import Event, MailboxState, Message
from tests.conftest import cli_json, mail
from tests.mailservers import free_port


def reconcile(world, *args: str) -> tuple[int, dict]:
    out = subprocess.run([sys.executable, "-m", "mailticket", "--config",
                          str(world.config_path), "reconcile", *args, "--json"],
                         capture_output=True, text=True)
    assert out.returncode in (0, 1), out.stderr
    return out.returncode, json.loads(out.stdout)


def append(world, local: str, m, arrived: datetime | None = None) -> int:
    with world.dovecot.client(world.addr(local)) as client:
        response = client.append("INBOX", bytes(m), msg_time=arrived)
    return int(response.split(b"APPENDUID ")[1].split(b"]")[0].split()[1])


@pytest.mark.integration
def test_mail_a_moved_watermark_skipped_is_listed_then_fixed_once(make_world, db_url):
    w = make_world(db_url)
    first = mail(f"ann@{w.domain}", w.addr("support"), "Login broken", "Cannot log in.")
    stored = append(w, "support", first)
    copy = append(w, "support", first)  # the same mail twice: skipped as a duplicate
    w.poll()
    # Three mails arrive; someone moves the watermark past them by hand.
    old = mail(f"ben@{w.domain}", w.addr("support"), "Invoice wrong", "Old question.")
    lost = [append(w, "support", old, datetime.now().astimezone() - timedelta(days=2)),
            append(w, "support", mail(f"cid@{w.domain}", w.addr("support"), "Refund",
                                      "Where is my refund?")),
            append(w, "support", mail(f"dan@{w.domain}", w.addr("support"), "Shipping",
                                      "Where is my parcel?"))]
    with w.app.db.transaction() as s:
        s.execute(update(MailboxState).where(MailboxState.department == "support")
                  .values(last_uid=lost[-1]))
    waiting = append(w, "support", mail(f"eve@{w.domain}", w.addr("support"), "Hello",
                                        "Newest mail, not polled yet."))

    code, found = reconcile(w, "--department", "support")
    assert code == 1
    [support] = found["departments"]
    assert support["missing"] == lost
    assert (support["in_mailbox"], support["stored"], support["skipped"],
            support["quarantined"], support["waiting"]) == (6, 1, 1, 0, 1)
    assert stored < copy < lost[0] < waiting
    assert len(cli_json(w, "tickets")) == 1  # the survey changed nothing

    code, fixed = reconcile(w, "--department", "support", "--fix")
    assert code == 0
    assert fixed["departments"][0]["fixed"] == {"new_ticket": 3}
    subjects = sorted(t["subject"] for t in cli_json(w, "tickets"))
    assert subjects == ["Invoice wrong", "Login broken", "Refund", "Shipping"]
    w.poll()  # sends the outbox (and takes the waiting mail, as the daemon would)
    assert len(w.inbox("ben")) == 0  # two days old: no "we got your mail" now
    assert len(w.inbox("cid")) == 1 and len(w.inbox("dan")) == 1
    with w.app.db.read() as s:
        quiet = s.scalars(select(Event.detail).where(
            Event.kind == "auto_response_suppressed")).all()
        sources = set(s.scalars(select(Message.source).where(Message.direction == "in")))
    assert [d["reason"] for d in quiet] == [
        "received more than a day before it was processed (reconcile --fix)"]
    assert {source_uid(src, "support", int(src.split(":")[2])) for src in sources} == {
        stored, *lost, waiting}

    code, again = reconcile(w)
    assert code == 0
    by_name = {d["department"]: d for d in again["departments"]}
    assert by_name["support"]["missing"] == [] and by_name["support"]["stored"] == 5
    assert by_name["sales"]["in_mailbox"] == 0


def test_cli_rejects_an_unknown_department(make_world):
    w = make_world()
    out = subprocess.run([sys.executable, "-m", "mailticket", "--config",
                          str(w.config_path), "reconcile", "--department", "nope"],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert "--department" in out.stderr and "support" in out.stderr


def test_each_uid_is_accounted_for_once():
    got = account("support", "INBOX", 7, watermark=6, uids=[1, 2, 3, 4, 5, 6, 7, 8],
                  stored={1, 4}, quarantined={2}, message_ids={3: "<a@x>", 5: None,
                                                               6: "<b@x>", 7: "<a@x>", 8: None},
                  known={"<a@x>"})
    assert (got.stored, got.quarantined, got.skipped, got.missing, got.waiting) == (
        [1, 4], [2], [3, 7], [5, 6], [8])
    assert got.as_json()["in_mailbox"] == 8


def test_a_source_names_its_uid_only_in_its_own_mailbox_and_uidvalidity():
    assert source_uid("imap:support:7:42", "support", 7) == 42
    assert source_uid("imap:support:8:42", "support", 7) is None
    assert source_uid("imap:supportx:7:42", "support", 7) is None
    assert source_uid("imap:sales:7:42", "support", 7) is None
    assert source_uid("imap:support:7:", "support", 7) is None


@pytest.mark.integration
def test_a_mailbox_that_cannot_be_read_is_a_finding_naming_its_department(make_world):
    w = make_world()
    w.reconfigure(f"port = {w.dovecot.imap_port}", f"port = {free_port()}")  # support's
    code, found = reconcile(w)
    assert code == 1
    by_name = {d["department"]: d for d in found["departments"]}
    assert "ConnectionRefusedError" in by_name["support"]["error"]
    assert by_name["sales"]["missing"] == []
