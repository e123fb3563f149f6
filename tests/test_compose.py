"""What we write on the wire reads back as meant in a standard parser."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy

from mailticket.outgoing import compose

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SUBJECT = "Принтерът не печата след актуализацията — моля, помогнете ни днес! ü é 日本"


def build_each(**kw):
    args = dict(from_name="Example Support", from_addr="support@helpdesk.test",
                subject=SUBJECT, text="Bonjour,\nligne deux  \n=3D pas un code\n", date=NOW,
                instance="test", auto_submitted="auto-generated", language="fr")
    return compose.build_each("notification", **{**args, **kw})


def test_long_non_ascii_subjects_round_trip_within_line_limits():
    out = build_each(each_to=[[("", "alice@helpdesk.test")]])[0]
    head = out.raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    assert all(len(line) <= 76 for line in head.split("\r\n") if "=?utf-8?" in line)
    assert message_from_bytes(out.raw, policy=policy.default)["Subject"] == SUBJECT


def test_one_body_for_several_agents_each_with_its_own_message_id():
    files = [("été.pdf", "application/pdf", b"%PDF-1.4 " * 100), ("a.csv", "text/csv", b"x,y\n")]
    outs = build_each(each_to=[[("", "alice@helpdesk.test")], [("", "bob@helpdesk.test")]],
                      attachments=files)
    assert [o.recipients for o in outs] == [["alice@helpdesk.test"], ["bob@helpdesk.test"]]
    assert outs[0].message_id != outs[1].message_id
    for out in outs:
        msg = message_from_bytes(out.raw, policy=policy.default)
        assert msg["To"] == out.recipients[0] and msg["Message-ID"] == out.message_id
        assert msg.defects == [] and all(p.defects == [] for p in msg.walk())
        body = msg.get_body(("plain",))
        assert body["Content-Language"] == "fr"
        assert body.get_content().replace("\r\n", "\n") == (
            "Bonjour,\nligne deux  \n=3D pas un code\n")
        assert [(p.get_filename(), p.get_content_type(), p.get_content())
                for p in msg.iter_attachments()] == [
            ("été.pdf", "application/pdf", b"%PDF-1.4 " * 100),
            ("a.csv", "text/csv", "x,y\n")]
