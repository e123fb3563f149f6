"""Benchmarks of mailticket against a real Dovecot, a local SMTP sink and Roundup.

One command runs everything: ``python -m bench.run [--size small|full]``
(see docs/benchmarks.md).
"""
