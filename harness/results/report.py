"""`mmharness report RESULTS_DIR`: one static HTML page about a kernel test session.

A results directory (see harness/pytest_plugin.py) holds one subdirectory per
test (console.log, commands.log, metadata.json, gzipped debugfs dumps,
sometimes metrics.json), figures.txt and, from harness/run/run_metadata.py,
a run-level metadata.json. The page shows the outcome of each test per
manifest and kernel (from JUnit XML when there is one for this run, else
inferred from the console's crash reports, else "outcome unknown"), failures
first with their console excerpt, time per phase, the figures, the metrics
as tables and PNG plots written next to the page, the per-comm MiB of every
page_owner / swap_page_owner dump (the round trips), and a relative link to
every file. No server, no external CSS or JavaScript.
"""

import json
import math
import os
import re
import statistics
import time
import urllib.parse
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import jinja2

from harness.errors import HarnessError
from harness.results import junit_summary, metrics
from harness.run import crash

TEMPLATES = Path(__file__).resolve().parent / "templates"
TEMPLATE = "report.html.j2"

# Outcomes in the page's order: failures first. Inferred ones say so.
OUTCOMES = {
    "failed": "failed",
    "error": "error",
    "crashed": "kernel crash (inferred)",
    "unknown": "outcome unknown",
    "skipped": "skipped",
    "passed": "passed",
}
BAD = frozenset({"failed", "error", "crashed"})
CONSOLE_TAIL = 30  # lines shown for a failure without a crash report
OWNER_DUMP = re.compile(r"^(?P<kind>swap_page_owner|page_owner)-(?P<step>.+)\.txt(\.gz|\.xz)?$")
STEP_ORDER = ("start", "dd", "DD", "cat")  # harness.run.workloads.round_trip's snapshots
OWNER_COMMS = 6  # columns per owner table, besides the total
JUNIT_SLACK_SECONDS = 120


def _sanitize(text: str) -> str:
    """A test's results subdirectory name, as the plugin's results_dir fixture makes it."""
    return re.sub(r"[^\w.-]+", "_", text)


@dataclass(frozen=True)
class Console:
    path: str  # relative to the results directory
    fatal: tuple[crash.CrashReport, ...]
    notices: tuple[crash.CrashReport, ...]
    tail: str  # the last lines, for a failure the scanner explains nothing of


@dataclass(frozen=True)
class OwnerTable:
    """MiB by comm of the owner dumps in one directory (one boot's round trip)."""

    directory: str  # relative to the results directory
    kind: str  # page_owner or swap_page_owner
    steps: tuple[str, ...]
    comms: tuple[str, ...]
    mib: dict[tuple[str, str], float]  # (step, comm) -> MiB
    total: dict[str, float]  # step -> MiB
    swapped: dict[str, float]  # step -> MiB of records marked (swapped)
    files: dict[str, str]  # step -> dump, relative to the results directory
    errors: dict[str, str]  # step -> why the dump could not be read


@dataclass
class TestResult:
    name: str  # the test's results subdirectory
    nodeid: str
    manifest: str
    build: str
    outcome: str  # a key of OUTCOMES
    outcome_from: str  # where the outcome comes from
    message: str
    seconds: dict[str, float]  # phase -> seconds
    consoles: list[Console]
    notices: list[str]
    kernel: str  # metrics.json's kernel
    metrics: list[metrics.Metric]
    files: list[str]  # relative to the results directory
    owner_tables: list[OwnerTable] = field(default_factory=list)

    @property
    def bad(self) -> bool:
        return self.outcome in BAD

    @property
    def group(self) -> str:
        """The test function without its parameters: what its metrics plot groups."""
        name = self.nodeid.split("::")[-1] if self.nodeid else self.name
        return name.split("[")[0].rstrip("_")


@dataclass(frozen=True)
class Figure:
    title: str
    text: str

    @property
    def round_trip(self) -> bool:
        return "round trip" in self.title.lower()


@dataclass
class Report:
    run_dir: Path
    tests: list[TestResult]
    figures: list[Figure]
    junit: Path | None
    junit_note: str
    run_metadata: dict
    files: list[str]  # top-level files
    images: list[str]  # PNGs already in the results directory (e.g. mmharness compare)


@dataclass(frozen=True)
class JUnitCase:
    outcome: str
    seconds: float
    message: str


# --- loading ----------------------------------------------------------------


def _junit_cases(path: Path) -> tuple[dict[str, JUnitCase], float | None, float]:
    """Cases by results-directory name, the suite's start (epoch) and its seconds."""
    suite = junit_summary.load(path)
    cases = {}
    for case in suite.cases:
        classname, _, name = case.name.rpartition("::")
        value = JUnitCase(case.outcome, case.seconds, case.message)
        cases.setdefault(_sanitize(name), value)
        if classname:
            cases.setdefault(_sanitize(f"{classname.rsplit('.', 1)[-1]}::{name}"), value)
    started, seconds = None, 0.0
    root = ElementTree.parse(path).getroot()
    element = root if root.tag == "testsuite" else root.find("testsuite")
    if element is not None:
        seconds = float(element.get("time") or 0)
        stamp = element.get("timestamp")
        if stamp:
            try:
                parsed = datetime.fromisoformat(stamp)
                started = parsed.timestamp()  # naive: local time, as pytest writes it
            except ValueError:
                pass
    return cases, started, seconds


def _run_started(run_dir: Path) -> float | None:
    """The time in the directory's name (paths.new_results_dir: %Y%m%d-%H%M%S, local time)."""
    found = re.match(r"(\d{8}-\d{6})-", run_dir.name)
    if not found:
        return None
    return time.mktime(time.strptime(found.group(1), "%Y%m%d-%H%M%S"))


def find_junit(run_dir: Path, names: list[str]) -> tuple[Path | None, str]:
    """A junit*.xml of this run, in the directory or its parent, and a note on the choice.

    The parent's file (make test-kernel's results/junit-MANIFEST.xml) is
    rewritten by every run: it counts only when it names tests of this
    directory and its session started before the directory was made and
    ended after."""
    notes = []
    started = _run_started(run_dir)
    for candidate in sorted(run_dir.glob("junit*.xml")) + sorted(run_dir.parent.glob("junit*.xml")):
        try:
            cases, begin, seconds = _junit_cases(candidate)
        except (HarnessError, ElementTree.ParseError) as error:
            notes.append(f"{candidate.name}: not used ({error})")
            continue
        if not any(name in cases for name in names):
            notes.append(f"{candidate}: not used (names none of these tests)")
            continue
        if candidate.parent != run_dir and started is not None and begin is not None and not (
                begin - JUNIT_SLACK_SECONDS <= started <= begin + seconds + JUNIT_SLACK_SECONDS):
            notes.append(f"{candidate}: not used (a session of {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(begin))}, "
                         "another run)")
            continue
        return candidate, "; ".join(notes)
    return None, "; ".join(notes)


def _scan_console(run_dir: Path, path: Path) -> Console:
    text = path.read_text(errors="replace")
    reports = crash.scan(text)
    lines = text.rstrip("\n").split("\n")
    return Console(str(path.relative_to(run_dir)), tuple(crash.fatal(reports)), tuple(crash.notices(reports)),
                   "\n".join(lines[-CONSOLE_TAIL:]))


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _step_key(step: str) -> tuple[int, str]:
    return (STEP_ORDER.index(step) if step in STEP_ORDER else len(STEP_ORDER), step)


def owner_tables(run_dir: Path, test_dir: Path) -> list[OwnerTable]:
    """Per-comm MiB of each page_owner / swap_page_owner dump under `test_dir`, one table per directory and kind."""
    from harness.results.parse import aggregate  # the parser loads only when there are dumps
    from harness.results.parse.textio import open_dump

    dumps: dict[tuple[Path, str], dict[str, Path]] = {}
    for path in sorted(test_dir.rglob("*page_owner-*")):
        found = OWNER_DUMP.match(path.name)
        if found and path.is_file():
            dumps.setdefault((path.parent, found.group("kind")), {})[found.group("step")] = path
    tables = []
    for (directory, kind), by_step in sorted(dumps.items()):
        steps = tuple(sorted(by_step, key=_step_key))
        summaries, errors = {}, {}
        for step in steps:
            try:
                with open_dump(by_step[step]) as dump:
                    summaries[step] = aggregate.summarise(dump, dimensions=("comm", "swapped"))
            except Exception as error:  # a truncated gzip of a killed run, an empty file, ...
                errors[step] = f"{type(error).__name__}: {error}"
        ranked: list[str] = []
        for step in steps:
            if step in summaries:
                for comm, _ in summaries[step].top("comm", OWNER_COMMS):
                    if str(comm) not in ranked:
                        ranked.append(str(comm))
        totals = {comm: max((s.mib("comm").get(comm, 0.0) for s in summaries.values()), default=0.0)
                  for comm in ranked}
        comms = tuple(sorted(ranked, key=lambda comm: -totals[comm])[:OWNER_COMMS])
        tables.append(OwnerTable(
            directory=str(directory.relative_to(run_dir)), kind=kind, steps=steps, comms=comms,
            mib={(step, comm): summary.mib("comm").get(comm, 0.0)
                 for step, summary in summaries.items() for comm in comms},
            total={step: summary.total_mib for step, summary in summaries.items()},
            swapped={step: summary.mib("swapped").get(True, 0.0) for step, summary in summaries.items()},
            files={step: str(path.relative_to(run_dir)) for step, path in by_step.items()},
            errors=errors))
    return tables


def _metrics(test_dir: Path) -> tuple[str, list[metrics.Metric]]:
    data = _read_json(test_dir / metrics.FILE)
    found = []
    for entry in data.get("metrics", []):
        try:
            found.append(metrics.Metric(entry["name"], entry.get("unit", ""),
                                        tuple(float(x) for x in entry["samples"]), entry.get("method", "")))
        except (KeyError, TypeError, ValueError):
            continue
    return str(data.get("kernel", "")), found


def load_test(run_dir: Path, test_dir: Path, junit: dict[str, JUnitCase], junit_name: str) -> TestResult:
    meta = _read_json(test_dir / "metadata.json")
    consoles = [_scan_console(run_dir, path) for path in sorted(test_dir.rglob("console.log"))]
    seconds = {key.removesuffix("_seconds"): float(value) for key, value in meta.items()
               if key.endswith("_seconds") and isinstance(value, (int, float))}
    case = junit.get(test_dir.name)
    if case is not None:
        outcome, outcome_from, message = case.outcome, junit_name, case.message
        seconds["test (JUnit)"] = case.seconds
    elif any(console.fatal for console in consoles):
        first = next(report for console in consoles for report in console.fatal)
        outcome, outcome_from, message = "crashed", "console.log crash scan", f"{first.kind}: {first.title}"
    else:
        outcome, outcome_from, message = "unknown", "", ""
    kernel, found = _metrics(test_dir)
    notices = [str(text) for text in meta.get("notices", [])]
    if not notices:  # boot() machines: no metadata, the console says it
        notices = [f"{r.kind}: {r.title} ({c.path}:{r.line})" for c in consoles for r in c.notices]
    return TestResult(
        name=test_dir.name, nodeid=str(meta.get("test", "")), manifest=str(meta.get("manifest", "")),
        build=str(meta.get("build", "")), outcome=outcome, outcome_from=outcome_from, message=message,
        seconds=seconds, consoles=consoles, notices=notices, kernel=kernel, metrics=found,
        files=sorted(str(path.relative_to(run_dir)) for path in test_dir.rglob("*") if path.is_file()),
        owner_tables=owner_tables(run_dir, test_dir))


def parse_figures(text: str) -> list[Figure]:
    """figures.txt: `## TITLE`, the table, a blank line (the plugin's figures fixture)."""
    figures: list[Figure] = []
    title, body = None, []
    for line in text.split("\n"):
        if line.startswith("## "):
            if title is not None:
                figures.append(Figure(title, "\n".join(body).strip("\n")))
            title, body = line[3:].strip(), []
        elif title is not None:
            body.append(line)
    if title is not None:
        figures.append(Figure(title, "\n".join(body).strip("\n")))
    return figures


def load(run_dir: Path, junit: Path | None = None) -> Report:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise HarnessError(f"{run_dir} is not a directory", hint="give a results directory, e.g. results/2026...-kernel-...")
    test_dirs = sorted(path for path in run_dir.iterdir() if path.is_dir())
    if junit is not None:
        if not Path(junit).is_file():
            raise HarnessError(f"JUnit file {junit} does not exist")
        note = "given with --junit"
    else:
        junit, note = find_junit(run_dir, [path.name for path in test_dirs])
    cases = _junit_cases(Path(junit))[0] if junit else {}
    tests = [load_test(run_dir, path, cases, f"JUnit {Path(junit).name}" if junit else "") for path in test_dirs]
    order = list(OUTCOMES)
    tests.sort(key=lambda test: (order.index(test.outcome), test.manifest, test.name))
    figures_file = run_dir / "figures.txt"
    figures = parse_figures(figures_file.read_text(errors="replace")) if figures_file.is_file() else []
    top = sorted(path.name for path in run_dir.iterdir() if path.is_file())
    return Report(run_dir=run_dir, tests=tests, figures=figures, junit=Path(junit) if junit else None,
                  junit_note=note, run_metadata=_read_json(run_dir / "metadata.json"), files=top,
                  images=[name for name in top if name.endswith(".png")])


# --- rendering --------------------------------------------------------------


@dataclass(frozen=True)
class MetricRow:
    name: str
    unit: str
    kernel: str
    n: int
    mean: float
    sd: float
    samples: tuple[float, ...]
    method: str
    test: str


@dataclass(frozen=True)
class MetricGroup:
    test: str  # the test function
    rows: tuple[MetricRow, ...]
    image: str  # the PNG beside the page, "" when there is nothing to plot


def metric_groups(report: Report) -> list[tuple[str, list[MetricRow]]]:
    groups: dict[str, list[MetricRow]] = {}
    for test in sorted(report.tests, key=lambda t: (t.group, t.kernel, t.name)):
        for metric in test.metrics:
            samples = metric.samples
            groups.setdefault(test.group, []).append(MetricRow(
                metric.name, metric.unit, test.kernel or test.manifest or test.name, len(samples),
                statistics.fmean(samples) if samples else math.nan,
                statistics.stdev(samples) if len(samples) > 1 else 0.0,
                samples, metric.method, test.name))
    for rows in groups.values():
        rows.sort(key=lambda row: (row.name, row.kernel))
    return sorted(groups.items())


def plot_group(test: str, rows: list[MetricRow], path: Path) -> None:
    """One subplot per metric: each kernel's samples as dots and their mean as a bar."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    names = list(dict.fromkeys(row.name for row in rows))
    columns = min(3, len(names))
    lines = math.ceil(len(names) / columns)
    fig, axes = pyplot.subplots(lines, columns, figsize=(4.2 * columns, 3.2 * lines), squeeze=False)
    for index, name in enumerate(names):
        axis = axes[index // columns][index % columns]
        mine = [row for row in rows if row.name == name]
        kernels = [row.kernel for row in mine]
        axis.bar(range(len(mine)), [row.mean for row in mine], color="#9ecae1", width=0.6, label="mean")
        for position, row in enumerate(mine):
            axis.plot([position] * row.n, row.samples, "o", color="#08519c", markersize=4)
        axis.set_xticks(range(len(mine)), kernels, fontsize=7, rotation=10)
        axis.set_title(name, fontsize=9)
        axis.set_ylabel(mine[0].unit, fontsize=8)
        axis.tick_params(axis="y", labelsize=7)
    for index in range(len(names), lines * columns):
        axes[index // columns][index % columns].axis("off")
    fig.suptitle(test, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    pyplot.close(fig)


def _slug(text: str) -> str:
    return re.sub(r"[^\w.-]+", "_", text).strip("_") or "x"


def _number(value) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if value == int(value) and abs(value) < 1e9:
            return f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}"
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)


def _figure_rows(text: str) -> list[list[str]] | None:
    """A figure with `|` columns (harness.run.workloads.table) as cells, else None (shown preformatted)."""
    rows = []
    for line in text.split("\n"):
        if re.fullmatch(r"-{3,}", line.strip()):
            continue
        if " | " not in line:
            return None
        rows.append([cell.strip() for cell in line.split(" | ")])
    return rows if len(rows) > 1 and len({len(row) for row in rows}) == 1 else None


def summary_rows(report: Report) -> list[dict]:
    """Counts by manifest and build."""
    rows: dict[tuple[str, str], dict] = {}
    for test in report.tests:
        row = rows.setdefault((test.manifest or "(not recorded)", test.build or ""),
                              {"manifest": test.manifest or "(not recorded)", "build": test.build,
                               "counts": dict.fromkeys(OUTCOMES, 0), "boot": []})
        row["counts"][test.outcome] += 1
        if "boot" in test.seconds:
            row["boot"].append(test.seconds["boot"])
    return [rows[key] for key in sorted(rows)]


def render(report: Report, out: Path, plots: bool = True) -> list[Path]:
    """Write the page and its PNGs (named after the page, beside it); return what was written.

    plots=False leaves the metrics plots out (the tables stay)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    written = []
    groups = []
    for test, rows in metric_groups(report):
        image = out.parent / f"{out.stem}-metrics-{_slug(test)}.png"
        if plots:
            plot_group(test, rows, image)
            written.append(image)
        groups.append(MetricGroup(test, tuple(rows), image.name if plots else ""))

    def link(path: str | Path) -> str:
        """A relative link from the page to a file of the results directory (or any path)."""
        target = os.path.relpath((report.run_dir / path).resolve(), out.parent.resolve())
        return urllib.parse.quote(Path(target).as_posix())

    def own(name: str) -> bool:  # this page and its plots, from an earlier `mmharness report`
        return out.parent.resolve() == report.run_dir.resolve() and (
            name == out.name or (name.startswith(f"{out.stem}-metrics-") and name.endswith(".png")))

    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                                     autoescape=True, undefined=jinja2.StrictUndefined,
                                     trim_blocks=True, lstrip_blocks=True)
    environment.filters["number"] = _number
    page = environment.get_template(TEMPLATE).render(
        report=report, outcomes=OUTCOMES, summary=summary_rows(report), groups=groups,
        failures=[test for test in report.tests if test.bad],
        files=[name for name in report.files if not own(name)],
        images=[name for name in report.images if not own(name)],
        figure_rows=_figure_rows, link=link, run_name=report.run_dir.resolve().name,
        junit_link=link(report.junit.resolve()) if report.junit else "",
        generated=time.strftime("%Y-%m-%d %H:%M:%S %Z"))
    out.write_text(page)
    return [out, *written]
