"""`mailticket attachment`: a file too large to pass on to agents can still be had."""

from __future__ import annotations

import json
import os
import stat

import pytest
from click.testing import CliRunner

from mailticket.cli import main
from tests.conftest import mail

pytestmark = pytest.mark.integration

PDF = b"%PDF-1.4\n" + os.urandom(40_000) + b"\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(3_000)


def cli(w, *args):
    return CliRunner().invoke(main, ["--config", str(w.config_path), *args])


def with_files(w, *, in_reply_to=None):
    m = mail(f"jane@{w.domain}", w.addr("support"), "Invoice", "See the attached invoice.",
             in_reply_to=in_reply_to)
    m.add_attachment(PDF, maintype="application", subtype="pdf", filename="invoice.pdf")
    m.add_attachment(PNG, maintype="image", subtype="png", filename="shot.png",
                     disposition="inline")  # as Apple Mail sends a pasted screenshot
    return m


def test_an_attachment_is_written_byte_for_byte(make_world, tmp_path):
    w = make_world(extra="[limits]\nnotification_attachments_max = 1024")
    w.deliver("support", with_files(w))
    w.poll()
    [note] = [m for m in w.wait_inbox("alice", 1)]
    assert not list(note.iter_attachments()), "too large to pass on to agents"
    shown = cli(w, "show", "1").output
    assert "#1 " in shown and f"[attachment: invoice.pdf (application/pdf, {len(PDF)} B)]" \
        in shown

    out = tmp_path / "invoice.pdf"
    r = cli(w, "attachment", "1", "invoice.pdf", "--out", str(out))
    assert r.exit_code == 0, r.output
    assert out.read_bytes() == PDF
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    again = cli(w, "attachment", "1", "invoice.pdf", "--out", str(out))
    assert again.exit_code == 1 and "exists" in again.output

    r = cli(w, "attachment", "1", "shot.png")  # an inline part, to standard output
    assert r.exit_code == 0, r.output
    assert r.stdout_bytes == PNG

    missing = cli(w, "attachment", "1", "nosuch.doc")
    assert missing.exit_code == 1
    assert "invoice.pdf (#1), shot.png (#1)" in missing.output


def test_the_same_name_on_two_messages_asks_which(make_world, tmp_path):
    w = make_world()
    w.deliver("support", with_files(w))
    w.poll()
    first = json.loads(cli(w, "show", "1", "--json").output)["messages"][0]["message_id"]
    w.deliver("support", with_files(w, in_reply_to=first))
    w.poll()
    msgs = json.loads(cli(w, "show", "1", "--json").output)["messages"]
    second = 1 + next(i for i, m in enumerate(msgs) if i > 0 and m["attachments"])
    r = cli(w, "attachment", "1", "invoice.pdf")
    assert r.exit_code == 2
    assert f"attached to messages #1, #{second}: pick one with --message N" in r.output
    out = tmp_path / "second.pdf"
    r = cli(w, "attachment", "1", "invoice.pdf", "--message", str(second), "-o", str(out))
    assert r.exit_code == 0, r.output
    assert out.read_bytes() == PDF
    assert cli(w, "attachment", "9", "invoice.pdf").exit_code == 1
