"""A mail's MIME tree, split with ``bytes.find`` instead of the stdlib's line loop.

``email.message_from_bytes`` reads a mail line by line in Python and compiles a
regular expression for every multipart boundary (each one is new, so the ``re``
cache never helps), which is most of what parsing an ordinary mail costs.
Here only the header blocks go through the stdlib's parser; bodies are cut at their
boundaries and kept as the stdlib keeps them (text with the bytes it could not
decode escaped), so every ``Message`` method reads them the same way.

Only well-formed structures take this path: a header block that ends, multipart
bodies whose boundaries open and close in order, no ``message/*`` parts.  Anything
else returns None and the caller parses with the stdlib, which knows how to make
sense of broken mail and notes what was wrong.
"""

from __future__ import annotations

from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import Compat32

MAX_DEPTH = 20


def split(raw: bytes, policy: Compat32) -> Message | None:
    """The Message tree of ``raw``, or None when the stdlib's parser should do it."""
    try:
        return _entity(raw, policy, 0)
    except (ValueError, LookupError, UnicodeError):
        return None


def _entity(data: bytes, policy: Compat32, depth: int) -> Message | None:
    if depth > MAX_DEPTH:
        return None
    if data.startswith((b"\r\n", b"\n")):  # no header lines at all
        head, body = b"", data[2 if data.startswith(b"\r\n") else 1:]
    else:
        cut = data.find(b"\r\n\r\n")
        lf = data.find(b"\n\n")
        if cut < 0 and lf < 0:
            return None  # headers that never end
        if cut >= 0 and (lf < 0 or cut < lf):
            head, body = data[:cut + 2], data[cut + 4:]
        else:
            head, body = data[:lf + 1], data[lf + 2:]
        crlf = head.count(b"\r\n")
        if (crlf and head.count(b"\n") != crlf) or head.count(b"\r") != crlf:
            return None  # mixed or bare-CR line endings: leave them to the stdlib
    msg = BytesHeaderParser(policy=policy).parsebytes(
        head + (b"\r\n" if head.endswith(b"\r\n") else b"\n"))
    if msg.defects or msg.get_payload():
        return None  # the header block itself was odd
    maintype = msg.get_content_maintype()
    if maintype == "message":
        return None
    if maintype != "multipart":
        msg.set_payload(body.decode("ascii", "surrogateescape"))
        return msg
    boundary = msg.get_boundary()
    if not boundary or msg.get_content_subtype() == "digest":
        return None  # a digest's parts are messages by default
    if str(msg.get("content-transfer-encoding", "7bit")).strip().lower() not in (
            "7bit", "8bit", "binary"):
        return None  # an encoded multipart: the stdlib notes the defect
    if body.count(b"\r") != body.count(b"\r\n"):
        return None  # a bare CR ends a line for the stdlib, not for the search below
    parts = _cut(body, boundary.encode("ascii"))
    if parts is None:
        return None
    preamble, chunks, epilogue = parts
    children: list[Message | str] = []
    for chunk in chunks:
        child = _entity(chunk, policy, depth + 1)
        if child is None:
            return None
        children.append(child)
    if not children:
        return None
    msg.set_payload(children)
    msg.preamble = preamble.decode("ascii", "surrogateescape") if preamble else None
    msg.epilogue = epilogue.decode("ascii", "surrogateescape") if epilogue else ""
    return msg


def _cut(body: bytes, boundary: bytes) -> tuple[bytes, list[bytes], bytes] | None:
    """(preamble, parts, epilogue) at the delimiter lines ``--boundary`` (RFC 2046
    5.1.1: the line break before a delimiter belongs to it; blanks may follow it)."""
    delimiter = b"--" + boundary
    starts: list[tuple[int, int, bool]] = []  # (line start, body start, closing?)
    pos = 0
    while True:
        at = body.find(delimiter, pos)
        if at < 0:
            return None  # no closing delimiter
        pos = at + len(delimiter)
        if at and body[at - 1:at] != b"\n":
            continue  # not at the start of a line
        rest = body[pos:pos + 2]
        closing = rest == b"--"
        end = pos + 2 if closing else pos
        while body[end:end + 1] in (b" ", b"\t"):
            end += 1
        if body.startswith(b"\r\n", end):
            end += 2
        elif body.startswith(b"\n", end):
            end += 1
        elif end < len(body):
            return None  # text after a delimiter on its line: leave it to the stdlib
        starts.append((at, end, closing))
        if closing:
            break
    if len(starts) < 2:
        return None
    preamble = body[:_eol_start(body, starts[0][0])]
    parts = [body[start[1]:_eol_start(body, following[0])]
             for start, following in zip(starts, starts[1:], strict=False)]
    return preamble, parts, body[starts[-1][1]:]


def _eol_start(body: bytes, at: int) -> int:
    """Where the line break before a delimiter at ``at`` begins."""
    if at >= 2 and body[at - 2:at] == b"\r\n":
        return at - 2
    if at >= 1 and body[at - 1:at] == b"\n":
        return at - 1
    return at
