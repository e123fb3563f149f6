"""Quote stripping and commands, as pure functions."""

from mailticket.incoming.replies import new_text, split_commands


def test_bottom_posted_reply_keeps_the_text_below_the_quote():
    text = "On 23/11/2026 10:15, Example Support wrote:\n> the notification\n> more\n\nDone.\n"
    assert new_text(text) == "Done."


def test_marker_cut_wins_even_without_quote_characters():
    text = "Sure.\n\n##- Please type your reply above this line -##\nNew ticket from jane@x"
    assert new_text(text) == "Sure."


def test_wrapped_russian_attribution():
    text = ('Hello\n02.04.2012 14:20 пользователь "bob@example.org" <\nbob@example.org> '
            'написал:\n> Hi\n')
    assert new_text(text) == "Hello"


def test_commands_parsing():
    cmds, rest = split_commands("#assign me\n#priority HIGH\n\nText here\n#not a command")
    assert (cmds.assign, cmds.priority, cmds.errors) == ("me", "high", [])
    assert rest == "Text here\n#not a command"
    cmds, rest = split_commands("#1 is the part number\n")
    assert cmds.seen == [] and rest.startswith("#1")
    cmds, _ = split_commands("#priority soon\n#close extra\n#close\n#reopen")
    assert len(cmds.errors) == 3
