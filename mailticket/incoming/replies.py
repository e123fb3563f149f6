"""What an agent wrote: the new text of a reply, and the commands at its top.

The notification starts with a marker line; a reply is cut there first (the
strongest signal, whatever the client does with quotes).  Without it,
quotequail finds the quoted part.  Either way the attribution line the client
put above the quote ("On … wrote:", "Le … a écrit :", "На … написа:", an
Outlook "From:/Sent:" block and the line of underscores above it) is removed too: it
names our token address.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field

import quotequail

MARKER_TEXT = "Please type your reply above this line"

# Attribution lines, by language.  Each must match a whole (possibly wrapped) line.
_ATTRIBUTION = [
    r"on\b.{0,200}\bwrote\s*:",                       # en
    r"le\b.{0,200}\ba\s+[ée]crit\s*:",                 # fr
    r"(den|on|tis|ons|tors|fre|lör|sön|mån)\b.{0,200}\bskrev\b.{0,200}:",  # sv/da/no
    r"am\b.{0,200}\bschrieb\b.{0,200}:",              # de
    r".{0,200}\bschrieb\s*:",                          # de, short form
    r"el\b.{0,200}\bescribi[óo]\s*:",                  # es
    r".{0,200}\bescribi[óo]\s*:",                      # es, short form
    r"на\b.{0,200}\bнаписа\s*:",                       # bg
    r".{0,200}\bнаписа\s*:",                           # bg, short form
    r".{0,200}\bнаписал[аи]?\s*:",                     # ru (Android, Yandex)
    r".{0,200}\bwrote\s*:",                            # en, short form (Thunderbird)
]
_ATTRIBUTION_RE = re.compile(r"^\s*(?:" + "|".join(_ATTRIBUTION) + r")\s*$",
                             re.IGNORECASE | re.DOTALL)
_SEPARATOR_RE = re.compile(
    r"^\s*-{2,}\s*(original message|original-nachricht|ursprüngliche nachricht|"
    r"message d'origine|ursprungligt meddelande|mensaje original|оригинално писмо|"
    r"forwarded message|message transféré)\s*-{2,}\s*$", re.IGNORECASE)
# Outlook's rule above its header block, in every language: a line of underscores.
_RULE_RE = re.compile(r"^\s*_{8,}\s*$")
# Outlook's header block: "From:" followed within a few lines by "Sent:"/"Date:".
_HEADER_FROM = re.compile(r"^\s*\*?(from|de|von|från|fra|от|van)\s*:\*?\s", re.IGNORECASE)
_HEADER_SENT = re.compile(
    r"^\s*\*?(sent|date|envoyé|gesendet|datum|skickat|sendt|enviado|fecha|изпратено|"
    r"дата|verzonden)\s*:", re.IGNORECASE)


def _cut_marker(text: str) -> str | None:
    idx = text.find(MARKER_TEXT)
    if idx < 0:
        return None
    line_start = text.rfind("\n", 0, idx) + 1
    return text[:line_start]


def _strip_tail(text: str) -> str:
    """Drop trailing quoted lines, attribution lines and header blocks."""
    lines = text.rstrip().split("\n")
    # A header block or separator anywhere below the text ends the reply.
    for i, line in enumerate(lines):
        if _SEPARATOR_RE.match(line):
            lines = lines[:i]
            break
        if _HEADER_FROM.match(line) and any(_HEADER_SENT.match(x) for x in lines[i + 1:i + 4]):
            lines = lines[:i]
            break
    while lines:
        last = lines[-1]
        if not last.strip() or last.lstrip().startswith(">") or _RULE_RE.match(last):
            lines.pop()
            continue
        # Attribution lines may be wrapped over two lines by the client.
        joined2 = " ".join(x.strip() for x in lines[-2:])
        if len(lines) >= 2 and _ATTRIBUTION_RE.match(joined2):
            del lines[-2:]
            continue
        if _ATTRIBUTION_RE.match(last):
            lines.pop()
            continue
        break
    return "\n".join(lines).strip("\n")


def _below_quote(text: str) -> str:
    """Bottom-posted or inline replies: the unquoted lines after the first quote."""
    lines = text.split("\n")
    first = next((i for i, x in enumerate(lines) if x.lstrip().startswith(">")), None)
    if first is None:
        return ""
    kept = [x for x in lines[first:] if not x.lstrip().startswith(">")]
    return _strip_tail("\n".join(kept)).strip()


def new_text(text: str) -> str:
    """The part of a reply its author wrote, without quote, attribution or marker."""
    text = text.replace("\r\n", "\n")
    cut = _cut_marker(text)
    if cut is None:
        unwrapped = quotequail.unwrap(text)
        if unwrapped and unwrapped.get("type") == "reply" and "text_top" in unwrapped:
            cut = unwrapped["text_top"]
        else:
            blocks = quotequail.quote(text)
            cut = blocks[0][1] if blocks and blocks[0][0] else text
    # Dedented: HTML converted to text indents every line of a block alike.
    top = textwrap.dedent(_strip_tail(cut)).strip()
    return top or _below_quote(text)


# -- commands ------------------------------------------------------------------------

COMMANDS = ("close", "reopen", "assign", "priority", "note", "pending", "faq", "time")
PRIORITIES = ("low", "normal", "high", "urgent")
#: "#time 12m", "#time 1h30m", "#time 1h 30m", "#time 90" (bare minutes), "#time 2h".
_DURATION = re.compile(r"^(?:(\d+)\s*h)?\s*(?:(\d+)\s*(?:m|min)?)?$", re.IGNORECASE)
#: More than a working day on one answer is a typo ("#time 90h"), not a figure to keep.
MAX_MINUTES = 24 * 60
_COMMAND_LINE = re.compile(r"^#([A-Za-z][A-Za-z_-]*)(?:[ \t]+(.*))?$")


@dataclass
class Commands:
    close: bool = False
    reopen: bool = False
    pending: bool = False
    note: bool = False
    faq: bool = False  # keep the customer's question and this answer as a draft FAQ entry
    assign: str | None = None
    priority: str | None = None
    minutes: int | None = None  # "#time": what the answer took, for staffing figures
    errors: list[str] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)


def parse_minutes(text: str) -> int | None:
    """Minutes of "12m", "1h30m", "1h 30m", "2h", "90"; None when it is none of these or
    outside 1 … ``MAX_MINUTES``."""
    match = _DURATION.match(text.strip())
    if match is None or not any(match.groups()):
        return None
    hours, minutes = (int(g) if g else 0 for g in match.groups())
    total = hours * 60 + minutes
    return total if 1 <= total <= MAX_MINUTES else None


def split_commands(text: str) -> tuple[Commands, str]:
    """Commands from the lines at the very top, and the text after them.

    A line like "#1 thing" is not a command (a command is '#' and a word); an
    unknown word is an error, so a typo never sends half-meant text.
    """
    cmds = Commands()
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if not line:
            i += 1
            continue
        m = _COMMAND_LINE.match(line)
        if not m:
            break
        word, arg = m.group(1).lower(), (m.group(2) or "").strip()
        cmds.seen.append(line)
        if word not in COMMANDS:
            cmds.errors.append(f"unknown command #{word} (known: "
                               + ", ".join(f"#{c}" for c in COMMANDS) + ")")
        elif word == "assign":
            if not arg or len(arg.split()) != 1:
                cmds.errors.append("#assign needs one agent: #assign me, #assign bob or "
                                   "#assign bob@example.com")
            else:
                cmds.assign = arg
        elif word == "priority":
            if arg.lower() not in PRIORITIES:
                cmds.errors.append(f"#priority needs one of {', '.join(PRIORITIES)}, "
                                   f"not {arg!r}")
            else:
                cmds.priority = arg.lower()
        elif word == "time":
            minutes = parse_minutes(arg)
            if minutes is None:
                cmds.errors.append(f"#time needs the minutes the answer took, like #time 12m, "
                                   f"#time 1h30m or #time 90 (1 to {MAX_MINUTES}), "
                                   f"not {arg!r}")
            else:
                cmds.minutes = minutes
        elif arg:
            cmds.errors.append(f"#{word} takes no argument (got {arg!r})")
        else:
            setattr(cmds, word, True)
        i += 1
    if cmds.close and cmds.reopen:
        cmds.errors.append("#close and #reopen contradict each other")
    return cmds, "\n".join(lines[i:]).strip("\n")
