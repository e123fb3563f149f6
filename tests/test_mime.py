"""The fast MIME splitter (``incoming/mime.py``) must change nothing but speed: every mail of
every corpus parses to the same ``ParsedMail`` with it as with the stdlib's parser
alone, and the common mail really takes the fast path."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import corpus
from mailticket.incoming import mime, parse
from tests import corpora

DATA = Path(__file__).parent / "data"


def _sources() -> dict[str, list[bytes]]:
    return {
        "bench": corpus.generate(600, seed=7, domain="mime.example"),
        "data": [p.read_bytes() for p in sorted(DATA.glob("*.eml"))],
        "cpython": [p.read_bytes() for p in corpora.cpython_email_messages()],
        "enmime": [p.read_bytes() for p in corpora.enmime_messages()],
        "flufl": [b.path.read_bytes() for b in corpora.flufl_bounces()],
    }


@pytest.fixture(scope="module")
def sources() -> dict[str, list[bytes]]:
    return _sources()


def test_the_split_parses_every_corpus_mail_as_the_stdlib_does(sources, monkeypatch):
    fast = {name: [parse.parse(raw) for raw in raws] for name, raws in sources.items()}
    monkeypatch.setattr(mime, "split", lambda raw, policy: None)
    for name, raws in sources.items():
        for i, raw in enumerate(raws):
            assert fast[name][i] == parse.parse(raw), f"{name} mail {i} differs"


def test_ordinary_mail_takes_the_fast_path(sources):
    taken = sum(mime.split(raw, parse._POLICY) is not None for raw in sources["bench"])
    assert taken >= 0.95 * len(sources["bench"])
    # Mail the stdlib must read itself: no end to the header block, a boundary
    # that never closes, an attached message.
    assert mime.split(b"Subject: x\r\nFrom: a@b", parse._POLICY) is None
    assert mime.split(b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n\r\nhi\r\n',
                      parse._POLICY) is None
    assert mime.split(b"Content-Type: message/rfc822\r\n\r\nSubject: y\r\n\r\nz",
                      parse._POLICY) is None
    encoded = (b'Content-Type: multipart/mixed; boundary="b"\r\n'
               b"Content-Transfer-Encoding: base64\r\n\r\n--b\r\n\r\nhi\r\n--b--\r\n")
    assert mime.split(encoded, parse._POLICY) is None
    assert parse.parse(encoded).defects  # the stdlib's note on it is kept
