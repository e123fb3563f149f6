"""`report --html` and `staffing --html`: one page that a real browser (Debian's headless
chromium) shows with its charts, without the network and without console errors."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import time_machine
from click.testing import CliRunner
from PIL import Image

from mailticket.cli import main
from tests.test_report import ALICE, Desk, paris
from tests.test_staffing import desk
from tests.test_staffing import paris as nov

CHROMIUM = "/usr/bin/chromium"


def browse(page: Path, folder: Path) -> tuple[Image.Image, str, str]:
    """The page's screenshot, its DOM as the browser built it, and the browser's log."""
    shot = folder / "shot.png"
    common = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
              f"--user-data-dir={folder / 'profile'}", "--enable-logging=stderr", "--v=1",
              "--virtual-time-budget=5000", "--window-size=1200,2400"]
    env = {**os.environ, "HOME": str(folder)}
    run = subprocess.run([*common, f"--screenshot={shot}", page.as_uri()], env=env,
                         capture_output=True, text=True, timeout=120)
    dom = subprocess.run([*common, "--dump-dom", page.as_uri()], env=env,
                         capture_output=True, text=True, timeout=120)
    assert shot.exists(), run.stderr[-2000:]
    return Image.open(shot).convert("RGB"), dom.stdout, run.stderr + dom.stderr


def coloured_pixels(image: Image.Image) -> int:
    """Pixels that are neither white nor grey (text, axes): the charts' coloured ink."""
    colours = image.getcolors(maxcolors=image.width * image.height) or []
    return sum(n for n, (r, g, b) in colours if max(r, g, b) - min(r, g, b) > 40)


def check_page(page: Path, folder: Path, charts: int) -> str:
    text = page.read_text()
    assert "<script" not in text and not re.search(r"""(src|href)=["']?https?:""", text)
    image, dom, log = browse(page, folder)
    assert dom.count("<svg") == charts, dom[:500]
    assert "CONSOLE" not in log and "Failed to load" not in log, log[-2000:]
    blank = Image.new("RGB", image.size, "white")
    assert coloured_pixels(blank) == 0
    assert coloured_pixels(image) > 3000 * charts
    return dom


def test_the_report_page_shows_its_four_charts(tmp_path: Path) -> None:
    d = Desk(tmp_path)
    d.at(paris(23, 10)).customer("jane", "Printer")
    d.at(paris(23, 11, 30)).answer(ALICE, 1)
    d.at(paris(24, 16)).customer("john", "Scanner")
    page = tmp_path / "report.html"
    with time_machine.travel(paris(30, 10), tick=False):
        r = CliRunner().invoke(main, ["--config", str(tmp_path / "config.toml"), "report",
                                      "--since", "2026-11-23", "--until", "2026-11-30",
                                      "--html", str(page)])
    assert r.exit_code == 0, r.output
    assert "promise kept" in r.output  # the terminal output stays
    dom = check_page(page, tmp_path, charts=4)
    assert "Customer messages by hour of the week" in dom and "the promise" in dom


def test_the_staffing_page_shows_the_roster_beside_the_current_one(tmp_path: Path) -> None:
    desk(tmp_path)
    page = tmp_path / "staffing.html"
    with time_machine.travel(nov(16, 0), tick=False):
        r = CliRunner().invoke(main, ["--config", str(tmp_path / "config.toml"), "staffing",
                                      "--weeks", "2", "--html", str(page)])
    assert r.exit_code == 0, r.output
    dom = check_page(page, tmp_path, charts=1)
    assert "current roster" in dom and "Worst day: Monday" in dom


def test_an_unwritable_page_is_refused_naming_the_option(tmp_path: Path) -> None:
    Desk(tmp_path)
    r = CliRunner().invoke(main, ["--config", str(tmp_path / "config.toml"), "report",
                                  "--html", str(tmp_path / "missing" / "r.html")])
    assert r.exit_code == 2 and "--html" in r.output
    assert not (tmp_path / "missing").exists()
