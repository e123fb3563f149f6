"""`faq candidates`: the recurring questions no published entry answers yet; an entry
that answers one (by the auto-response's own matcher) takes its cluster off the list."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from mailticket.cli import main
from tests.test_clusters import _desk


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_published_entry_answers_its_cluster_and_only_it(tmp_path, backend, request):
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    app, tickets = _desk(tmp_path, url)
    app.close()
    config = str(tmp_path / "desk" / "config.toml")

    def faq(*args: str) -> str:
        r = CliRunner().invoke(main, ["--config", config, "faq", *args])
        assert r.exit_code == 0, r.output
        return r.output

    def clusters() -> list[list[int]]:
        out = json.loads(faq("candidates", "--min", "4", "--days", "30", "--json"))
        return [c["tickets"] for c in out["clusters"]]

    assert clusters() == [sorted(tickets[:5])]
    faq("add", "-d", "support", "-l", "en", "-q", "Do you ship to Norway?",
        "-a", "Yes, in 3 to 7 days.")
    faq("add", "-d", "support", "-l", "en", "-q", "How can I reset my password?",
        "-a", "Click 'Forgot password' on the login page.", "--draft")
    assert clusters() == [sorted(tickets[:5])], "another entry, or a draft, answers nothing"
    draft = json.loads(faq("list", "--state", "draft", "--json"))[0]["id"]
    faq("publish", str(draft))
    assert clusters() == []
    text = CliRunner().invoke(main, ["--config", config, "faq", "candidates", "--days", "0"])
    assert text.exit_code == 2 and "--days" in text.output
