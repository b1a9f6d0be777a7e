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

The parts: report_load (with report_junit and owner_tables) reads the
directory into report_model's Report; metric_plots draws the metrics; this
module renders the page from templates/report.html.j2.
"""

import math
import os
import re
import time
import urllib.parse
from pathlib import Path

import jinja2

from harness.paths import safe_name
from harness.results.metric_plots import MetricGroup, metric_groups, plot_group
from harness.results.report_load import load
from harness.results.report_model import OUTCOMES, Report

__all__ = ["load", "render"]

TEMPLATES = Path(__file__).resolve().parent / "templates"
TEMPLATE = "report.html.j2"


def _slug(text: str) -> str:
    return safe_name(text).strip("_") or "x"


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
