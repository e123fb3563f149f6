"""A mail whose From is an agent but that proves nothing reaches the agents as a customer's
message, with a warning at the top in the department's language."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mailticket.clock import FixedClock
from mailticket.store.models import Ticket
from mailticket.store.writes import writing
from tests.conftest import body, mail

pytestmark = pytest.mark.integration

MONDAY = datetime(2026, 11, 23, 9, 15, tzinfo=UTC)
WARNINGS = {
    "en": "WARNING: this mail claims to come from the agent {bob}, but it did not come "
          "through a mail that agent was sent. Treat it as a customer's message",
    "fr": "ATTENTION : ce message prétend venir de l’agent {bob}, mais il n’est pas arrivé "
          "par un message envoyé à cet agent. Traitez-le comme le message d’un client",
    "sv": "VARNING: det här mejlet utger sig för att komma från agenten {bob}, men det kom "
          "inte via ett mejl som skickats till den agenten. Behandla det som ett kundmeddelande",
    "es": "ATENCIÓN: este correo dice venir del agente {bob}, pero no llegó a través de un "
          "correo enviado a ese agente. Trátelo como el mensaje de un cliente",
    "bg": "ВНИМАНИЕ: това съобщение твърди, че идва от агента {bob}, но не е пристигнало чрез "
          "имейл, изпратен на този агент. Третирайте го като съобщение от клиент",
    "de": "ACHTUNG: Diese E-Mail gibt vor, vom Agenten {bob} zu stammen, kam aber nicht über "
          "eine E-Mail, die diesem Agenten geschickt wurde. Behandeln Sie sie als Nachricht "
          "eines Kunden",
}


@pytest.mark.parametrize("language", list(WARNINGS))
def test_agents_are_warned_of_a_forged_agent_mail_in_their_language(make_world, language):
    w = make_world(clock=FixedClock(MONDAY))
    w.reconfigure('display_name = "Example Support"',
                  f'display_name = "Example Support"\nlanguage = "{language}"')
    first = mail(f"Jane <jane@{w.domain}>", w.addr("support"), "Printer", "It smokes.")
    w.deliver("support", first)
    w.poll()
    [new] = w.wait_inbox("alice", 1)
    # Bob's address on a mail that answers Jane's, not any notification Bob was sent.
    bob = f"bob@{w.domain}"
    w.deliver("support", mail(bob, w.addr("support"), "Re: Printer", "#close\nAll fixed.",
                              in_reply_to=first["Message-ID"]))
    w.poll()
    w.wait_inbox("alice", 2)
    with w.app.db.transaction() as s, writing(s) as ws:
        ticket = s.get(Ticket, 1)
        [forged] = [m for m in ticket.messages if m.from_addr == bob]
        assert forged.kind == "customer"
        w.app.pipeline.mailer.notify_agents(
            ws, ticket, w.config.department("support"), forged, w.app.clock.now(),
            is_new=False, files=[], agents=[f"alice@{w.domain}"], suspected_spoof=True)
    w.poll()
    warned = body(w.wait_inbox("alice", 3)[-1])
    top = warned.split("\n\n")[1]  # right under the reply marker
    assert top.startswith(WARNINGS[language].format(bob=bob)), warned
    assert "All fixed." in warned
    assert WARNINGS[language].split(":")[0] not in body(new)  # an honest mail: no warning
