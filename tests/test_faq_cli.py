"""An admin keeps the FAQ from the command line: add, list, show, edit, publish, remove,
import a TOML file and export the shop's FAQ page; bad input gets exit 2 naming the key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mailticket.cli import main
from tests.builders import config_toml, department, maildir, sqlite


@pytest.fixture
def admin(tmp_path: Path, db_url: str | None):
    text = config_toml(database={"url": db_url} if db_url else sqlite(tmp_path),
                       outgoing=maildir(tmp_path),
                       departments=[department("support", "shop.example", agents=["alice"]),
                                    department("sales", "shop.example", agents=["carol"])])
    path = tmp_path / "config.toml"
    path.write_text(text)

    def run(*args: str, code: int = 0) -> str:
        r = CliRunner().invoke(main, ["--config", str(path), "faq", *args])
        assert r.exit_code == code, r.output
        return r.output

    return run


def entries(admin) -> list[dict]:
    return json.loads(admin("list", "--json"))


def test_add_list_show_edit_publish_remove(admin, tmp_path):
    added = json.loads(admin("add", "-d", "support", "-l", "fr", "--question",
                             "Comment suivre ma commande ?", "--answer",
                             "Le lien de suivi est dans le mail d'expédition.", "--json"))
    answer = tmp_path / "a.txt"
    answer.write_text("Wir erstatten binnen 14 Tagen.\n", encoding="utf-8")
    admin("add", "-d", "sales", "-l", "de", "-q", "Wann bekomme ich mein Geld zurück?",
          "--answer-file", str(answer), "--draft")
    listed = entries(admin)  # per department, then language
    assert [(e["id"], e["department"], e["language"], e["state"], e["suggested"], e["solved"])
            for e in listed] == [(added["id"] + 1, "sales", "de", "draft", 0, 0),
                                 (added["id"], "support", "fr", "published", 0, 0)]
    assert listed[0]["answer"] == "Wir erstatten binnen 14 Tagen."
    assert {"id", "department", "language", "question", "answer", "state", "suggested",
            "solved"} <= set(listed[0])
    draft = listed[0]["id"]
    assert "from admin" in admin("show", str(draft))
    admin("edit", str(draft), "--answer", "Binnen 14 Tagen nach Eingang der Ware.")
    admin("publish", str(draft))
    shown = json.loads(admin("show", str(draft), "--json"))
    assert (shown["state"], shown["answer"]) == ("published",
                                                 "Binnen 14 Tagen nach Eingang der Ware.")
    assert [e["id"] for e in json.loads(admin("list", "-d", "support", "--json"))] == [
        added["id"]]
    admin("remove", str(added["id"]))
    assert [e["id"] for e in entries(admin)] == [draft]
    assert "no FAQ entry" in admin("show", str(added["id"]), code=2)


def test_bad_input_names_the_option(admin, tmp_path):
    assert "--department" in admin("add", "-d", "nope", "-l", "fr", "-q", "Q?", "-a", "A",
                                   code=2)
    assert "--language" in admin("add", "-d", "support", "-l", "xx", "-q", "Q?", "-a", "A",
                                 code=2)
    assert "--answer" in admin("add", "-d", "support", "-l", "fr", "-q", "Q?", code=2)
    assert "--answer-file" in admin("add", "-d", "support", "-l", "fr", "-q", "Q?",
                                    "--answer-file", str(tmp_path / "missing.txt"), code=2)
    assert "nothing to change" in admin("edit", "1", code=2)
    assert entries(admin) == []


IMPORT = '''
[[faq]]
department = "support"
language = "sv"
question = "Hur byter jag leveransadress?"
answer = "Svara på orderbekräftelsen innan paketet har skickats."

[[faq]]
department = "support"
language = "en"
question = "Do you ship <abroad> & to islands?"
answer = "Yes, to the whole EU.\\n\\nIslands take two more days."

[[faq]]
department = "support"
language = "en"
question = "Not ready yet"
answer = "Draft text"
state = "draft"
'''


def test_import_then_export_the_shop_page(admin, tmp_path):
    path = tmp_path / "faq.toml"
    path.write_text(IMPORT, encoding="utf-8")
    assert json.loads(admin("import", str(path), "--json"))["imported"] == 3
    md = admin("export", "--format", "markdown")
    assert "# support (en)" in md and "## Do you ship <abroad> & to islands?" in md
    assert "# support (sv)" in md and "Hur byter jag leveransadress?" in md
    assert "Not ready yet" not in md, "drafts stay off the shop's page"
    html = admin("export", "--format", "html", "-l", "en")
    assert '<section class="faq" lang="en" data-department="support">' in html
    assert "<h2>Do you ship &lt;abroad&gt; &amp; to islands?</h2>" in html
    assert "<p>Yes, to the whole EU.</p><p>Islands take two more days.</p>" in html
    assert "leveransadress" not in html
    pages = json.loads(admin("export", "--format", "json"))
    assert [(p["department"], p["language"], len(p["entries"])) for p in pages] == [
        ("support", "en", 1), ("support", "sv", 1)]
    out = tmp_path / "faq.md"
    admin("export", "--out", str(out))
    assert out.read_text(encoding="utf-8") == md


def test_a_bad_import_file_adds_nothing_and_names_each_key(admin, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[[faq]]\ndepartment = "support"\nlanguage = "fr"\nquestion = "Q ?"\n'
                    '[[faq]]\ndepartment = "hr"\nlanguage = "fr"\nquestion = "Q"\n'
                    'answer = "A"\ncolour = "red"\n', encoding="utf-8")
    out = admin("import", str(path), code=2)
    for part in ("faq[1].answer", "faq[2].department", "faq[2].colour"):
        assert part in out
    assert entries(admin) == []
    path.write_text("this is = = not toml", encoding="utf-8")
    assert "not TOML" in admin("import", str(path), code=2)
