"""Two machines that answer everything must not talk forever.

A badly written auto-responder (or another helpdesk) answers every mail it gets
and ignores every header that says "do not answer me": no Auto-Submitted, no
loop header, no Precedence.  The design's last line of defence is the limit of
auto-responses per sender per day; this test plays such a robot against the
real helpdesk over the real mail servers and checks that the exchange dies out
within that limit, and that the test ends by itself even if it does not.
"""

from __future__ import annotations

import contextlib
import threading
import time
from email.message import EmailMessage

import pytest

from tests.conftest import World, mail, parsed

pytestmark = pytest.mark.integration

HARD_LIMIT = 15.0  # seconds the exchange may run at most
QUIET = 2.5        # seconds without a new mail either way: the exchange has stopped


class Robot(threading.Thread):
    """Polls robot@'s INBOX and answers every new mail to support@ straight away.

    ``threaded``: a reply that keeps the subject ("Re: …") and sets In-Reply-To, as
    a naive auto-responder does.  Otherwise: a fresh mail with its own subject
    and no references, as another helpdesk acknowledging "your request" does.
    """

    def __init__(self, w: World, threaded: bool) -> None:
        super().__init__(name="robot", daemon=True)
        self.w = w
        self.threaded = threaded
        self.stop = threading.Event()
        self.received: list[EmailMessage] = []
        self.sent = 0
        self.errors: list[BaseException] = []

    def first(self) -> None:
        self.send("My order", "Hello, where is my order?", None)

    def send(self, subject: str, text: str, in_reply_to: str | None) -> None:
        m = mail(f"Robot <{self.w.addr('robot')}>", self.w.addr("support"), subject, text,
                 in_reply_to=in_reply_to, msgid_domain="robot.example")
        self.w.deliver("support", m)
        self.sent += 1

    def answer(self, got: EmailMessage) -> None:
        if self.threaded:
            self.send("Re: " + str(got["Subject"] or ""), "Thank you for your message.",
                      got["Message-ID"])
        else:
            self.send(f"Request received (robot ticket {self.sent})",
                      "We have received your request and will answer soon.", None)

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                raws = self.w.dovecot.messages(self.w.addr("robot"))
                for raw in raws[len(self.received):]:
                    msg = parsed(raw)
                    self.received.append(msg)
                    self.answer(msg)
                self.stop.wait(0.1)
        except BaseException as e:  # reported by the test, not lost in the thread
            self.errors.append(e)


@pytest.mark.parametrize("threaded", [True, False], ids=["naive-replier", "other-helpdesk"])
def test_a_robot_that_answers_everything_gets_at_most_the_daily_limit(make_world,
                                                                       threaded: bool) -> None:
    w = make_world()
    limit = w.config.limits.auto_responses_per_sender_per_day
    robot = Robot(w, threaded)
    robot.first()
    robot.start()
    started = time.monotonic()
    last_change, last_state = started, (0, 0)
    try:
        while time.monotonic() - started < HARD_LIMIT:
            w.poll()
            state = (len(robot.received), robot.sent)
            if state != last_state:
                last_change, last_state = time.monotonic(), state
            elif time.monotonic() - last_change > QUIET:
                break
            assert not robot.errors, robot.errors
            time.sleep(0.1)
    finally:
        robot.stop.set()
        robot.join(timeout=10)
    took = time.monotonic() - started
    assert not robot.errors, robot.errors
    auto = [m for m in robot.received if m["Auto-Submitted"] == "auto-replied"]
    print(f"\nrobot ({'threaded' if threaded else 'fresh mails'}): sent {robot.sent}, "
          f"received {len(robot.received)} ({len(auto)} auto-responses) in {took:.1f} s")
    assert time.monotonic() - last_change > QUIET, (
        f"still going after {HARD_LIMIT} s: robot sent {robot.sent}, "
        f"received {len(robot.received)}")
    assert len(auto) <= limit
    assert len(robot.received) <= limit  # nothing else reaches a customer unasked
    assert robot.sent <= limit + 1
    assert all(m["From"] == f"Example Support <{w.addr('support')}>" for m in robot.received)
    if threaded:  # replies thread into the ticket: no second acknowledgement at all
        assert len(auto) == 1
    else:
        assert len(auto) == limit
    with contextlib.suppress(Exception):
        w.poll()  # nothing left behind in the outbox
