"""A parse worker analyses a customer's mail for the search index and the FAQ suggestion
(``Prepared.analyses``); the writer uses those terms instead of analysing the mail
again, and the index holds the same as when the writer analysed it itself."""

from __future__ import annotations

import pickle

from sqlalchemy import text as sql

from mailticket.ingest.workers import _Fetcher
from mailticket.mail.subject import base_subject
from mailticket.search import analyzer
from mailticket.search.index import body_terms, mail_terms, tokens
from tests.builders import mail
from tests.corpora import HELPDESK_DOMAIN, throwaway_app
from tests.test_search import MAILS, SUPPORT


def _worker() -> _Fetcher:
    return _Fetcher(languages=["bg", "de", "en", "es", "fr", "sv"], low_memory=True,
                    min_confidence=0.5, own=[SUPPORT], instance="t")


def _raws() -> list[bytes]:
    return [bytes(mail(f"c-{lang}@customer.example", SUPPORT, f"Re: {subject}", body))
            for lang, subject, body, _ in MAILS]


def test_a_workers_analyses_are_the_writers(monkeypatch):
    prepared = pickle.loads(pickle.dumps(_worker().prepare_all(_raws())))  # over the pipe
    for p, (lang, subject, _body, _) in zip(prepared, MAILS, strict=True):
        assert p.language is not None and p.language[0] == lang
        got = dict(p.analyses)
        assert got[base_subject(p.mail.subject)] == tuple(analyzer.terms(subject, lang))
        assert got[p.mail.text] == tuple(analyzer.terms(p.mail.text, lang))
    # Remembered, they are what the index and the FAQ read, with nothing analysed again.
    for p in prepared:
        for t, found in p.analyses:
            analyzer.remember(t, p.language[0], found)
    monkeypatch.setattr(analyzer, "terms", lambda *a: (_ for _ in ()).throw(
        AssertionError("analysed again")))
    for p in prepared:
        lang = p.language[0]
        assert body_terms(p.mail.text, lang) == dict(p.analyses)[p.mail.text]
        assert tokens(base_subject(p.mail.subject), lang)
        assert mail_terms(p.mail.subject, p.mail.text, lang)


def test_machine_mail_and_mail_of_no_language_carry_no_analysis():
    bounce = bytes(mail("MAILER-DAEMON@x.example", SUPPORT, "Undelivered Mail Returned",
                        "This is the mail system. I'm sorry to have to inform you...",
                        headers={"Auto-Submitted": "auto-replied"}))
    nothing = bytes(mail("c@customer.example", SUPPORT, "?", "12345"))
    for p in _worker().prepare_all([bounce, nothing]):
        assert p.analyses == ()


def _index(app) -> list[tuple]:
    with app.db.read() as s:
        conn = s.connection()
        # The index keeps no content: each term with its mail, column and position.
        conn.execute(sql("CREATE VIRTUAL TABLE IF NOT EXISTS temp.v "
                         "USING fts5vocab(main, search_index, 'instance')"))
        docs = conn.execute(sql("SELECT doc, col, offset, term FROM temp.v "
                                "ORDER BY doc, col, offset")).all()
        questions = conn.execute(sql("SELECT ticket_id, terms FROM questions "
                                     "ORDER BY ticket_id")).all()
    return [tuple(r) for r in docs] + [tuple(r) for r in questions]


def test_the_index_holds_the_same_with_the_workers_terms(tmp_path):
    raws = _raws()
    apps = [throwaway_app(tmp_path / name) for name in ("writer", "worker")]
    try:
        analyzer._recent.clear()
        apps[0].ingest_batch([(r, f"t:{i}") for i, r in enumerate(raws)],
                             department="support", also=lambda s: None)
        analyzer._recent.clear()
        apps[1].ingest_batch([(r, f"t:{i}") for i, r in enumerate(raws)],
                             department="support", also=lambda s: None,
                             prepared=_worker().prepare_all(raws))
        first, second = (_index(a) for a in apps)
        assert first == second and len(first) > 10 * len(MAILS)
    finally:
        for a in apps:
            a.close()
    assert HELPDESK_DOMAIN in SUPPORT
