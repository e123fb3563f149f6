"""The FAQ: entries per department and language, suggested in the auto-response.

``entries`` keeps them (the database edge), ``exchange`` reads and writes the files
admins import and the shop publishes, ``match`` is the pure matcher, ``suggest``
keeps its index per department and language, ``replies`` reads the ``#faq`` of an
agent and the SOLVED of a customer.
"""
