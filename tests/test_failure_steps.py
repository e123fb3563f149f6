"""One decision for a mail whose processing raised: retry a race once, raise what is the
database's fault (the mail is fetched again later), quarantine what is the mail's."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from mailticket.app import Step, decide, handled
from mailticket.pipeline import Outcome


def _op(text: str) -> OperationalError:
    return OperationalError("INSERT ...", {}, Exception(text))


def _up() -> bool:
    return True


def _down() -> bool:
    return False


def test_a_race_on_the_message_id_is_retried_once_then_raised():
    race = IntegrityError("INSERT ...", {}, Exception("UNIQUE constraint failed"))
    assert decide(race, 0, _up) is Step.RETRY
    assert decide(race, 1, _up) is Step.RAISE


@pytest.mark.parametrize("text", ["database is locked", "could not connect to server",
                                  "deadlock detected"])
def test_a_busy_or_gone_database_raises(text):
    assert decide(_op(text), 0, _up) is Step.RAISE


def test_a_database_error_is_the_mails_only_while_the_database_answers():
    assert decide(_op("value too long for type"), 0, _up) is Step.QUARANTINE
    assert decide(_op("value too long for type"), 0, _down) is Step.RAISE


def test_anything_else_is_the_mails_doing():
    assert decide(ValueError("bad header"), 0, _down) is Step.QUARANTINE


def test_handled_retries_a_race_and_keeps_a_broken_mail():
    tries: list[int] = []

    def racing() -> Outcome:
        tries.append(1)
        if len(tries) == 1:
            raise IntegrityError("INSERT ...", {}, Exception("UNIQUE"))
        return Outcome("duplicate", None, "<m@x>", "Message-ID already stored")

    def kept(e: Exception) -> Outcome:
        return Outcome("quarantined", None, "quarantine:1", str(e))

    assert handled(racing, kept, _up).action == "duplicate" and len(tries) == 2

    def broken() -> Outcome:
        raise ValueError("bad header")

    assert handled(broken, kept, _up).action == "quarantined"
    with pytest.raises(OperationalError):
        handled(lambda: (_ for _ in ()).throw(_op("database is locked")), kept, _up)
