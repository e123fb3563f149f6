"""Ticket states and priorities, as the CLI's JSON names them.

Apart from the models so that a command's options can list them without importing
SQLAlchemy's ORM (``mailticket --help`` stays fast).
"""

STATES = ("new", "open", "pending", "closed")
PRIORITIES = ("low", "normal", "high", "urgent")
