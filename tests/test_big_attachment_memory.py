"""The daemon gives back what a big attachment took (issue 14: 200 MB resident after
one 20 MB attachment): measured on a real daemon process, by bench/big_attachment.py."""

from __future__ import annotations

import pytest

from bench.big_attachment import measure

pytestmark = pytest.mark.integration


def test_a_20_mb_attachment_does_not_stay_resident():
    rss = measure(20)
    # Without trimming the heap the daemon kept ~85 MB more (the mail's bytes, several
    # times over); what it keeps now is a few MB of caches.
    assert rss["after_big_mb"] - rss["warm_mb"] < 40, rss
    assert rss["after_three_more_mb"] - rss["warm_mb"] < 40, rss
