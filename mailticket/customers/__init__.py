"""One person's data: see it (``show``), hand it over (``export``), erase it (``forget``),
and keep closed tickets only as long as the retention policy says (``retention``).

``erasers.ERASERS`` lists every place where a person's data is stored, one function
each: a new table holding personal data adds its eraser there.
"""
