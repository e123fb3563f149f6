"""Outlook puts a line of underscores above the "From: … Sent: …" block of the mail it
quotes; none of it may reach the customer, in plain text or HTML, in any language."""

from __future__ import annotations

from html import escape

import pytest

from mailticket.clock import FixedClock
from mailticket.incoming.body import html_to_text
from mailticket.incoming.replies import new_text
from tests.conftest import body, mail, reply
from tests.test_agents import MONDAY, assert_clean

RULE = "_" * 32
MARK = "##- Please type your reply above this line -##"
NOTE = f"{MARK}\n\nNew ticket from Jane Doe <jane@cust.test>\nPrinter on fire"

# (words, header block) as Outlook writes them, per language.
OUTLOOK = {
    "en": ("Hi Jane,\n\na technician will call you today.\n\nRegards,\nAlice",
           ["From: Jane Doe via Example Support <support+1-3f9a@example.com>",
            "Sent: Monday, November 23, 2026 10:15 AM", "To: Alice Martin <alice@example.com>",
            "Subject: [Support #1] Printer on fire"]),
    "fr": ("Bonjour Jane,\n\nun technicien vous appellera aujourd'hui.\n\nCordialement,\nAlice",
           ["De : Jane Doe via Example Support <support+1-3f9a@example.com>",
            "Envoyé : lundi 23 novembre 2026 10:15", "À : Alice Martin <alice@example.com>",
            "Objet : [Support #1] Printer on fire"]),
    "de": ("Hallo Jane,\n\nein Techniker ruft Sie heute an.\n\nGrüße\nAlice",
           ["Von: Jane Doe via Example Support <support+1-3f9a@example.com>",
            "Gesendet: Montag, 23. November 2026 10:15", "An: Alice Martin <alice@example.com>",
            "Betreff: [Support #1] Printer on fire"]),
}


def plain(lang: str, below: str = NOTE) -> str:
    words, block = OUTLOOK[lang]
    return f"{words}\n\n{RULE}\n" + "\n".join(block) + f"\n\n{below}\n"


def owa_html(lang: str) -> str:
    """Outlook on the web: the rule is an <hr>, the block bold labels."""
    words, block = OUTLOOK[lang]
    paras = "".join(f"<div>{w or '<br>'}</div>" for w in words.split("\n"))
    head = "<br>".join(f"<b>{escape(label)}:</b>{escape(value)}"
                       for label, value in (line.split(":", 1) for line in block))
    return (f'<html><body><div dir="ltr">{paras}</div><div id="appendonsend"></div>'
            f'<hr style="display:inline-block;width:98%" tabindex="-1">'
            f'<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri">{head}</font></div>'
            f"<div>{NOTE.replace(chr(10), '<br>')}</div></body></html>")


def desktop_html(lang: str) -> str:
    """Outlook for Windows: Word's paragraphs, the rule as literal underscores."""
    words, block = OUTLOOK[lang]
    paras = "".join(f'<p class="MsoNormal">{w or "&nbsp;"}<o:p></o:p></p>'
                    for w in words.split("\n"))
    head = "<br>".join(escape(line) for line in block)
    return (f'<html><body><div class="WordSection1">{paras}'
            f'<div><p class="MsoNormal">{RULE}</p></div>'
            f'<p class="MsoNormal">{head}</p>'
            f"<p class=\"MsoNormal\">{NOTE.replace(chr(10), '<br>')}</p></div></body></html>")


@pytest.mark.parametrize("lang", sorted(OUTLOOK))
def test_outlook_plain_text_reply_loses_rule_and_header_block(lang):
    assert new_text(plain(lang)) == OUTLOOK[lang][0]


@pytest.mark.parametrize("lang", sorted(OUTLOOK))
def test_outlook_reply_without_our_marker_loses_rule_and_header_block(lang):
    assert new_text(plain(lang, below="Hello,\nmy printer is on fire.\nJane")) \
        == OUTLOOK[lang][0]


@pytest.mark.parametrize("lang", sorted(OUTLOOK))
@pytest.mark.parametrize("html", [owa_html, desktop_html])
def test_outlook_html_reply_converted_to_text_loses_rule_and_header_block(html, lang):
    got = new_text(html_to_text(html(lang)))
    assert got.split() == OUTLOOK[lang][0].split()
    assert "__" not in got
    assert not [line for line in got.split("\n") if line.startswith(" ")], got


@pytest.mark.integration
@pytest.mark.parametrize("lang", ["en", "fr"])
def test_outlook_reply_reaches_the_customer_without_its_separator(make_world, lang):
    """Over the real servers: a multipart/alternative Outlook reply to the notification."""
    w = make_world(clock=FixedClock(MONDAY))
    w.deliver("support", mail(f"Jane Doe <jane@{w.domain}>", w.addr("support"),
                              "Printer on fire", "Hello,\nmy printer is on fire.\nJane"))
    w.poll()
    [note] = w.wait_inbox("alice", 1)
    words, block = OUTLOOK[lang]
    block = [line.replace("support+1-3f9a@example.com", note["Reply-To"]) for line in block]
    text = f"{words}\n\n{RULE}\n" + "\n".join(block) + f"\n\n{body(note)}"
    # Outlook: no In-Reply-To; the token address proves it
    m = reply(note, f"Alice Martin <alice@{w.domain}>", text, threading=False,
              prefix="RE: " if lang == "en" else "RE : ", msgid_domain="outlook.example",
              html=desktop_html(lang).replace("support+1-3f9a@example.com", note["Reply-To"]),
              headers={"Thread-Index": "AQHZ1mK3"})
    w.deliver("support", m)
    w.poll()
    answer = w.wait_inbox("jane", 2)[-1]
    got = body(answer)
    assert got.startswith(words + "\n"), got
    assert "__" not in got, f"Outlook's separator reached the customer:\n{got}"
    for line in block[:2]:  # From/De, Sent/Envoyé
        assert line.split(":")[0] + ":" not in got
    assert_clean(got, w)
