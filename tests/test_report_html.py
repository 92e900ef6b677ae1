"""The HTML leaderboard opens from disk in a real browser (headless Debian chromium), with
its tables and figures, and sorts. A screenshot is kept under test-artifacts/."""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from reports.report import make_report

FIXTURE = Path(__file__).parent / "fixtures" / "report_results"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium() -> str:
    found = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("chromium is not installed; .ci/run installs Debian's `chromium` for this test")
    pytest.skip(
        "chromium is not installed here (apt-get install chromium); under CI=1 this test fails instead"
    )


def browse(page: Path, profile: Path, *extra: str, fragment: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [chromium(), *FLAGS, f"--user-data-dir={profile}", *extra, page.resolve().as_uri() + fragment],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )


class Dom(HTMLParser):
    """Rows per table, images and the text of each table's first column, from a DOM dump."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, list[str]] = {}
        self.images: list[str] = []
        self._table = None
        self._cell = 0
        self._in_first = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self._table = attrs.get("id", f"table{len(self.tables)}")
            self.tables[self._table] = []
        elif tag == "tr":
            self._cell = 0
        elif tag == "td" and self._table:
            self._cell += 1
            self._in_first = self._cell == 1
            if self._in_first:
                self.tables[self._table].append("")
        elif tag == "img":
            self.images.append(attrs.get("src", ""))

    def handle_endtag(self, tag):
        if tag == "td":
            self._in_first = False
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._in_first and self._table:
            self.tables[self._table][-1] += data


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    return make_report(FIXTURE, tmp_path_factory.mktemp("report"), iters=200).html


def dump(page: Path, tmp_path: Path, fragment: str = "") -> Dom:
    dom = Dom()
    dom.feed(browse(page, tmp_path / "profile", "--dump-dom", fragment=fragment).stdout)
    return dom


def test_browser_renders_one_row_per_model_in_each_table(page, tmp_path):
    dom = dump(page, tmp_path)
    assert sorted(dom.tables["table-letter"]) == ["alpha", "beta", "delta", "gamma"]
    assert sorted(dom.tables["table-gen"]) == ["alpha", "beta"]


def test_browser_shows_every_figure_inline(page, tmp_path):
    dom = dump(page, tmp_path)
    inline = [src for src in dom.images if src.startswith("data:image/svg+xml;base64,")]
    assert len(inline) == 4 + 4  # bars, ratio, volume, gain + one heatmap per model
    assert len(inline) == len(dom.images)  # nothing loads from outside the file


def test_link_with_sort_fragment_opens_sorted_by_that_column(page, tmp_path):
    dom = dump(page, tmp_path, fragment="#sort=open")
    assert dom.tables["table-letter"] == ["delta", "beta", "alpha", "gamma"]  # 0.875, 0.75, 0.5625, 0.1875


def test_screenshot_is_kept_as_a_test_artifact(page, tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report_leaderboard.png"
    shot.unlink(missing_ok=True)
    browse(page, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1400,2400", "--hide-scrollbars")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000
