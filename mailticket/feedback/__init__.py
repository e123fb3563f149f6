""""How did we do?": one short mail after a ticket is closed with an answer, and the
customer's grade read from their reply.

``grade`` reads a reply (pure); ``asking`` schedules the question when a ticket
closes, cancels it when it reopens and sends it when it is due; ``answers`` takes a
grade from a reply to it; ``figures`` counts them for ``report``.
"""
