"""A mail is prepared once (parse, fingerprint, verdict, language), by a parse worker or
in the daemon with the same function; the writer never does that work again."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from mailticket.incoming.prepare import Prepared
from mailticket.ingest.workers import _Fetcher
from mailticket.store.models import Ticket
from tests.corpora import HELPDESK_DOMAIN, throwaway_app

SUPPORT = f"support@{HELPDESK_DOMAIN}"


def _raw(n: int, body: str, lang: str | None = None) -> bytes:
    head = (f"From: Customer <c{n}@customer.example>\r\nTo: {SUPPORT}\r\n"
            f"Subject: Help {n}\r\nMessage-ID: <p{n}@customer.example>\r\n"
            "Date: Mon, 23 Nov 2026 10:00:00 +0100\r\n")
    head += f"Content-Language: {lang}\r\n" if lang else ""
    return (head + "\r\n" + body + "\r\n").encode()


class _NoDetecting:
    """A detector the writer must not call: the mail was prepared already."""

    def guess(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("the writer detected the language again")


def test_a_mail_in_no_confident_language_is_not_detected_again_by_the_writer(tmp_path: Path):
    app = throwaway_app(tmp_path)
    prepared = app.pipeline.preparer.prepare(_raw(1, "ok"))
    assert prepared.language is None  # guessed: no confident language
    app.pipeline.preparer.detector = _NoDetecting()  # type: ignore[assignment]
    [outcome] = app.ingest_batch([(_raw(1, "ok"), "imap:support:1:1")], department="support",
                                 also=lambda s: None, prepared=[prepared])
    assert outcome.action == "new_ticket"
    with app.db.transaction() as s:
        ticket = s.scalars(select(Ticket)).one()
        assert ticket.language == "en"  # the department's, as when detected in the writer


def test_a_worker_and_the_daemon_prepare_a_mail_alike(tmp_path: Path):
    app = throwaway_app(tmp_path)
    langs = app.config.languages
    worker = _Fetcher(sorted(langs.supported), langs.low_memory, langs.min_confidence,
                      sorted(app.config.own_addresses), app.pipeline.mailer.instance)
    raws = [_raw(1, "Bonjour, mon imprimante ne fonctionne plus depuis hier soir, "
                    "pouvez-vous m'aider à la réparer rapidement ?"),
            _raw(2, "ok"), _raw(3, "Hello", lang="sv")]
    apart = worker.prepare_all(raws)
    here = [app.pipeline.preparer.prepare(raw) for raw in raws]

    def answers(p: Prepared) -> tuple[object, ...]:
        return p.mail.message_id, p.fingerprint, p.verdict, p.language

    assert [answers(p) for p in apart] == [answers(p) for p in here]
    assert [p.language for p in here] == [("fr", "detected"), None, ("sv", "header")]


def test_a_mail_that_breaks_preparing_is_quarantined_alone(tmp_path: Path, monkeypatch):
    app = throwaway_app(tmp_path)
    prepare = app.pipeline.preparer.prepare

    def breaks(raw: bytes) -> Prepared:
        if b"BOOM" in raw:
            raise RuntimeError("the classifier broke")
        return prepare(raw)

    monkeypatch.setattr(app.pipeline.preparer, "prepare", breaks)
    outcomes = app.ingest_batch([(_raw(1, "Printer broken"), "imap:support:1:1"),
                                 (_raw(2, "BOOM"), "imap:support:1:2")],
                                department="support", also=lambda s: None)
    assert [o.action for o in outcomes] == ["new_ticket", "quarantined"]
