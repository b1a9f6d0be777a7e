"""mmharness report on a real results directory (tests/data/results-swap-table, see its README)."""

import html.parser
import lzma
import shutil
import subprocess
import sys
import textwrap
import time
import urllib.parse
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from harness import cli
from harness.results import report

DATA = Path(__file__).resolve().parent.parent / "data"
RUN = DATA / "results-swap-table" / "20261207-051751-kernel-21536"
ROUND_TRIP = DATA / "real-7.3" / "round-trip"
OOM_V73 = "test_no_vm_fault_oom_leak_under_memcg_pressure_v7.3_"
STATIC_V612 = "test_static_cost_of_swapon_on_1_tib_v6.12_"


class Page(html.parser.HTMLParser):
    """The ids, links, images and table cells of a page."""

    def __init__(self, text: str):
        super().__init__()
        self.ids, self.hrefs, self.images, self.cells = set(), [], [], []
        self._cell = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a" and "href" in attrs:
            self.hrefs.append(attrs["href"])
        if tag == "img":
            self.images.append(attrs["src"])
        if tag in ("td", "th"):
            self._cell = ""

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.cells.append(self._cell.strip())
            self._cell = None


def target(page: Path, href: str) -> Path:
    return (page.parent / urllib.parse.unquote(href)).resolve()


@pytest.fixture(scope="module")
def real():
    return report.load(RUN)


def test_real_run_without_junit(real):
    assert real.junit is None
    assert len(real.tests) == 10
    assert {test.outcome for test in real.tests} == {"unknown"}
    assert {test.manifest for test in real.tests} == {"swap-table-ab@v6.12", "swap-table-ab@v7.3"}
    static = next(test for test in real.tests if test.name == STATIC_V612)
    assert static.nodeid == "tests/kernel/test_swap_table.py::test_static_cost_of_swapon_on_1_tib[v6.12]"
    assert static.seconds == {"boot": 3.5}
    assert static.group == "test_static_cost_of_swapon_on_1_tib"
    assert [m.name for m in static.metrics] == ["static cost of swapon", "first swapon after boot",
                                                "static cost: VmallocUsed"]
    assert f"{STATIC_V612}/console.log" in static.files and f"{STATIC_V612}/qemu.cmd" in static.files


def test_oom_kills_are_notices_not_failures(real):
    oom = next(test for test in real.tests if test.name == OOM_V73)
    assert len(oom.notices) == 6  # from metadata.json, of the untrimmed console
    [console] = oom.consoles
    assert console.fatal == ()
    # the first whole OOM report, and the last kill line in the console's last three lines
    assert [r.title for r in console.notices] == ["Memory cgroup out of memory: Killed process 86 (perl)",
                                                  "Memory cgroup out of memory: Killed process 93 (perl)"]


def test_figures(real):
    titles = [figure.title for figure in real.figures]
    assert titles == ["static cost of swapon, 1 TiB brd, v7.3", "static cost of swapon, 1 TiB brd, v6.12",
                      "mTHP 64 KiB swap counters per round, v7.3", "mTHP 64 KiB swap counters per round, v6.12"]
    assert "817.8" in real.figures[1].text
    assert not any(figure.round_trip for figure in real.figures)


def test_page_tables_plots_and_links(real, tmp_path):
    page = tmp_path / "out" / "report.html"
    written = report.render(real, page)
    assert written[0] == page
    assert len(written) == 1 + 5  # one plot per test function with metrics
    parsed = Page(page.read_text())
    assert {"summary-table", "tests-table", "figures", "metrics"} <= parsed.ids
    assert "failures" not in parsed.ids
    for name in ("swap-table-ab@v6.12", "swap-table-ab@v7.3", "outcome unknown", "static cost of swapon",
                 "24.3", "817.8", "mTHP 64 KiB: swpin_fallback_charge"):
        assert name in parsed.cells, name
    plots = [src for src in parsed.images if src.startswith("report-metrics-")]
    assert len(plots) == 5
    for src in parsed.images:
        assert target(page, src).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", src
    assert "../../" not in "".join(plots)  # plots beside the page, the rest relative to it
    linked = {target(page, href) for href in parsed.hrefs}
    for href in parsed.hrefs:
        assert target(page, href).exists(), href
    every_file = {path.resolve() for path in RUN.rglob("*") if path.is_file()}
    assert every_file <= linked, sorted(str(p) for p in every_file - linked)
    assert "http" not in "".join(parsed.hrefs + parsed.images)
    assert "<script" not in page.read_text()


THROWAWAY = textwrap.dedent('''
    import pytest

    @pytest.mark.parametrize("kernel", ["v6.12", "v7.3"])
    def test_static_cost_of_swapon_on_1_tib(kernel):
        assert kernel == "v7.3", "static cost of swapon 817.8 MiB/TiB, more than 30"

    @pytest.mark.parametrize("kernel", ["v6.12", "v7.3"])
    def test_mthp_swap_out_and_swap_in_on_a_synchronous_device(kernel):
        pass

    def test_that_boots_nothing():
        assert False, "a failure that left no results directory"
''')


@pytest.fixture(scope="module")
def junit(tmp_path_factory) -> Path:
    """JUnit XML that pytest really wrote, for tests named like four of the real run's."""
    directory = tmp_path_factory.mktemp("junit")
    (directory / "test_swap_table.py").write_text(THROWAWAY)
    (directory / "pytest.ini").write_text("[pytest]\n")
    xml = directory / "junit-swap-table-ab.xml"
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}",
                    "test_swap_table.py"], cwd=directory, capture_output=True, check=False)
    assert xml.is_file()
    return xml


def test_junit_given(junit):
    loaded = report.load(RUN, junit)
    outcomes = {test.name: test.outcome for test in loaded.tests}
    assert outcomes[STATIC_V612] == "failed"
    assert outcomes["test_static_cost_of_swapon_on_1_tib_v7.3_"] == "passed"
    assert outcomes["test_mthp_swap_out_and_swap_in_on_a_synchronous_device_v6.12_"] == "passed"
    assert outcomes[OOM_V73] == "unknown"  # not in that JUnit file
    first, second = loaded.tests[:2]  # failures first
    assert {first.name, second.name} == {STATIC_V612, "test_that_boots_nothing"}
    static = first if first.name == STATIC_V612 else second
    assert "817.8 MiB/TiB" in static.message
    assert "test (JUnit)" in static.seconds


def test_a_junit_case_without_a_results_directory_is_on_the_page(junit, tmp_path):
    loaded = report.load(RUN, junit)
    (nothing,) = [test for test in loaded.tests if test.name == "test_that_boots_nothing"]
    assert nothing.outcome == "failed" and "left no results directory" in nothing.message and nothing.files == []
    page = report.render(loaded, tmp_path / "report.html", plots=False)[0].read_text()
    assert "a failure that left no results directory" in page
    worker = tmp_path / "20261207-100649-kernel-gw1-23519"  # under xdist the JUnit file covers every worker
    shutil.copytree(RUN, worker)
    assert "test_that_boots_nothing" not in {test.name for test in report.load(worker, junit).tests}


def test_junit_in_the_parent_only_when_it_is_this_runs(junit, tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    shutil.copy(junit, results)
    old = results / RUN.name  # a run of 2026-12-07 05:17, long before that JUnit file's session
    shutil.copytree(RUN, old)
    loaded = report.load(old)
    assert loaded.junit is None and "another run" in loaded.junit_note
    started = time.strptime(ElementTree.parse(junit).getroot().find("testsuite").get("timestamp")[:19],
                            "%Y-%m-%dT%H:%M:%S")
    this = results / f"{time.strftime('%Y%m%d-%H%M%S', started)}-kernel-1"
    shutil.copytree(RUN, this)
    loaded = report.load(this)
    assert loaded.junit == results / junit.name
    assert loaded.tests[0].outcome == "failed"
    inside = tmp_path / "inside"
    shutil.copytree(RUN, inside)
    shutil.copy(junit, inside / "junit.xml")
    assert report.load(inside).junit == inside / "junit.xml"


def test_failure_shows_the_console_excerpt(junit, tmp_path):
    run = tmp_path / RUN.name
    shutil.copytree(RUN, run)
    page = run / "report.html"
    report.render(report.load(run, junit), page, plots=False)
    parsed = Page(page.read_text())
    assert "failures" in parsed.ids and f"failure-{STATIC_V612}" in parsed.ids
    text = page.read_text()
    assert "No crash report in" in text and "reboot: machine restart" in text  # the console's tail
    assert text.index("failure-") < text.index('id="tests"')


def test_crash_without_junit_is_inferred(tmp_path):
    run = tmp_path / RUN.name
    shutil.copytree(RUN, run)
    console = run / STATIC_V612 / "console.log"
    lines = console.read_text().split("\n")
    lines.insert(14, "[   12.000001] BUG: kernel NULL pointer dereference, address: 0000000000000008")
    console.write_text("\n".join(lines))
    loaded = report.load(run)
    first = loaded.tests[0]
    assert (first.name, first.outcome) == (STATIC_V612, "crashed")
    assert first.message == "BUG: BUG: kernel NULL pointer dereference, address: 0000000000000008"
    report.render(loaded, run / "report.html", plots=False)
    text = (run / "report.html").read_text()
    assert "kernel crash (inferred)" in text and "line 15: BUG" in text


def test_owner_dumps_per_comm(tmp_path):
    """A test directory with a round trip's page_owner dumps (real ones, tests/data/real-7.3/round-trip)."""
    run = tmp_path / "20261122-030646-kernel-31421"
    trip = run / "test_round_trip" / "page_owner_on" / "round-trip"
    trip.mkdir(parents=True)
    for step in ("dd", "cat"):
        shutil.copy(ROUND_TRIP / f"page_owner-{step}.txt.xz", trip)
    with lzma.open(ROUND_TRIP / "page_owner-dd.txt.xz") as dump:
        (trip / "page_owner-DD.txt").write_bytes(dump.read()[:2000])  # cut mid-record, as a killed run leaves it
    (trip / "swap_page_owner-DD.txt.gz").write_bytes(b"not gzip")
    (run / "figures.txt").write_text("## page_owner swap round trip (cover letter: Before | After)\n"
                                     "                 |          page_owner=on\n"
                                     "---------------------------------------------\n"
                                     "after dd: dd MiB |                  256.6\n\n")
    loaded = report.load(run)
    [test] = loaded.tests
    owner, swap_owner = test.owner_tables
    assert owner.kind == "page_owner" and owner.steps == ("dd", "DD", "cat")
    assert owner.mib[("dd", "dd")] == pytest.approx(256.648, abs=0.001)
    assert owner.mib[("cat", "cat")] == pytest.approx(251.043, abs=0.001)
    assert owner.total["dd"] == pytest.approx(301.527, abs=0.001)
    assert "DD" in owner.total  # a truncated dump still counts what it holds
    assert swap_owner.kind == "swap_page_owner" and "DD" in swap_owner.errors
    assert loaded.figures[0].round_trip
    page = run / "report.html"
    report.render(loaded, page, plots=False)
    parsed = Page(page.read_text())
    assert "round-trips" in parsed.ids
    assert "256.6" in parsed.cells and "251.0" in parsed.cells and "after dd: dd MiB" in parsed.cells
    assert "page_owner-dd.txt.xz" in parsed.cells


def test_cli(tmp_path, capsys):
    out = tmp_path / "page" / "index.html"
    assert cli.main(["report", str(RUN), "--out", str(out), "--no-plots"]) == 0
    assert out.is_file() and not list(out.parent.glob("*.png"))
    assert "<img" in out.read_text()  # mmharness compare's plot in the results directory, no metrics plot
    assert 'src="index-metrics' not in out.read_text()
    assert f"report: {out}" in capsys.readouterr().out
    assert cli.main(["report", str(tmp_path / "missing")]) == 1
