"""The report page rendered by real headless Chromium (Debian package `chromium`, `make setup`).

--dump-dom gives the DOM after Chromium parsed and laid out the page: its
tables are there and every <img> points to a PNG file beside the page;
--screenshot shows that the page renders to an image.
"""

import shutil
import subprocess
import urllib.parse
from pathlib import Path

import pytest

from harness.results import report
from test_report import RUN, Page  # tests/unit is on sys.path (rootdir-less test modules)

CHROMIUM = shutil.which("chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
         "--allow-file-access-from-files"]


def chromium(*args: str, home: Path) -> subprocess.CompletedProcess:
    if CHROMIUM is None:
        pytest.fail("chromium is not installed: run `make setup` (it installs Debian's chromium)", pytrace=False)
    # its own profile and HOME: nothing of the machine's user, nothing left behind
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={home / 'profile'}", *args],
                          capture_output=True, text=True, timeout=120, env={"HOME": str(home), "PATH": "/usr/bin:/bin"})


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("chromium") / "report" / "report.html"
    report.render(report.load(RUN), out)
    return out


def test_dom_has_the_tables_and_the_plots(page, tmp_path):
    result = chromium("--dump-dom", page.as_uri(), home=tmp_path)
    assert result.returncode == 0, result.stderr
    dom = Page(result.stdout)
    assert {"summary-table", "tests-table", "figures", "metrics"} <= dom.ids
    assert "swap-table-ab@v7.3" in dom.cells and "mTHP 64 KiB: swpout" in dom.cells
    assert result.stdout.count("<table") >= 2 + 5  # summary, tests, one metrics table per test function
    assert len(dom.images) == 5 + 1  # the metrics plots, and mmharness compare's plot in the results
    for src in dom.images:
        image = (page.parent / urllib.parse.unquote(src)).resolve()
        assert image.is_file() and image.read_bytes()[:4] == b"\x89PNG", src


def test_screenshot(page, tmp_path):
    shot = tmp_path / "shot.png"
    result = chromium(f"--screenshot={shot}", "--window-size=1280,2000", page.as_uri(), home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000  # a page with tables and plots, not a blank one
