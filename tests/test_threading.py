"""The design's four threading rules, strongest first, over an in-memory lookup."""

from mailticket.incoming.threading import find_ticket, originals_first
from mailticket.mail.tokens import read_token, token_address

SECRET = b"k" * 32
OWN = frozenset({"support@example.com", "sales@example.com"})


class FakeLookups:
    def __init__(self, tickets, message_ids=None, participants=None):
        self.tickets = set(tickets)
        self.message_ids = message_ids or {}
        self.participants = participants or {}

    def ticket_for_message_ids(self, ids):
        for i in ids:
            if i in self.message_ids:
                return self.message_ids[i]
        return None

    def ticket_exists(self, ticket_id):
        return ticket_id in self.tickets

    def is_participant(self, ticket_id, address):
        return address in self.participants.get(ticket_id, ())


def decide(lookups, **kw):
    args = dict(recipients=["support@example.com"], in_reply_to=[], references=[],
                subject="Hello", sender="jane@example.org", own_addresses=OWN, secret=SECRET)
    args.update(kw)
    return find_ticket(lookups=lookups, **args)


def test_valid_token_wins_over_everything():
    lk = FakeLookups({1, 2}, {"<m@x>": 2}, {2: {"jane@example.org"}})
    d = decide(lk, recipients=[token_address("support@example.com", 1, SECRET)],
               in_reply_to=["<m@x>"], subject="[Support #2] hi")
    assert (d.ticket_id, d.rule) == (1, "token")


def test_tampered_token_is_rejected_and_not_followed():
    addr = token_address("support@example.com", 1, SECRET)
    forged = addr.replace("+1-", "+2-")
    lk = FakeLookups({1, 2})
    d = decide(lk, recipients=[forged])
    assert d.is_new and d.rejected_tokens == (forged,)
    assert read_token(forged, SECRET)[2] is False
    assert read_token(addr.upper(), SECRET) == ("support@example.com", 1, True)


def test_token_for_another_domain_is_ignored():
    addr = token_address("support@elsewhere.example", 1, SECRET)
    assert decide(FakeLookups({1}), recipients=[addr]).is_new


def test_references_pick_the_newest_known_message():
    lk = FakeLookups({1, 2}, {"<old@x>": 1, "<new@x>": 2})
    d = decide(lk, references=["<old@x>", "<new@x>"])
    assert (d.ticket_id, d.rule) == (2, "references")
    d = decide(lk, in_reply_to=["<old@x>"], references=["<new@x>"])
    assert d.ticket_id == 1


def test_subject_tag_only_for_participants():
    lk = FakeLookups({123}, participants={123: {"jane@example.org"}})
    d = decide(lk, subject="Re: [Support #123] printer")
    assert (d.ticket_id, d.rule) == (123, "subject_tag")
    stranger = decide(lk, subject="Re: [Support #123] printer", sender="eve@example.net")
    assert stranger.is_new


def test_tag_of_a_missing_ticket_opens_a_new_one():
    assert decide(FakeLookups(set()), subject="[Support #9] hi").is_new


def test_unknown_references_and_no_tag_is_new():
    d = decide(FakeLookups({1}), in_reply_to=["<nope@x>"])
    assert d.is_new and d.rule == "new"


def test_originals_come_before_the_replies_to_them_and_nothing_else_moves():
    # r2 replies to r1, which replies to o; x and y refer to nothing in the batch.
    batch = [("<r2>", ["<o>", "<r1>"]), ("<x>", ["<elsewhere>"]), ("<r1>", ["<o>"]),
             ("<o>", []), ("<y>", [])]
    assert originals_first(batch) == [1, 3, 2, 0, 4]
    # Mails referring to each other in a circle (or to themselves) keep their place last.
    assert originals_first([("<a>", ["<b>"]), ("<b>", ["<a>"]), ("<c>", ["<c>"])]) == [2, 0, 1]
    assert originals_first([]) == []
