"""Loading a results directory for `mmharness report`: each test's metadata, consoles, metrics and dumps."""

import json
from pathlib import Path

from harness.errors import HarnessError
from harness.paths import is_xdist_worker_run, safe_name
from harness.results import junit_summary, metrics
from harness.results.owner_tables import owner_tables
from harness.results.report_junit import JUnitCase, find_junit, junit_cases
from harness.results.report_model import OUTCOMES, Console, Figure, Report, TestResult
from harness.results import crash

CONSOLE_TAIL = 30  # lines shown for a failure without a crash report


def scan_console(run_dir: Path, path: Path) -> Console:
    text = path.read_text(errors="replace")
    reports = crash.scan(text)
    lines = text.rstrip("\n").split("\n")
    return Console(str(path.relative_to(run_dir)), tuple(crash.fatal(reports)), tuple(crash.notices(reports)),
                   "\n".join(lines[-CONSOLE_TAIL:]))


def read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def test_metrics(test_dir: Path) -> tuple[str, list[metrics.Metric]]:
    data = read_json(test_dir / metrics.FILE)
    found = []
    for entry in data.get("metrics", []):
        try:
            found.append(metrics.Metric(entry["name"], entry.get("unit", ""),
                                        tuple(float(x) for x in entry["samples"]), entry.get("method", "")))
        except (KeyError, TypeError, ValueError):
            continue
    return str(data.get("kernel", "")), found


def load_test(run_dir: Path, test_dir: Path, junit: dict[str, JUnitCase], junit_name: str) -> TestResult:
    meta = read_json(test_dir / "metadata.json")
    consoles = [scan_console(run_dir, path) for path in sorted(test_dir.rglob("console.log"))]
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
    kernel, found = test_metrics(test_dir)
    notices = [str(text) for text in meta.get("notices", [])]
    if not notices:  # boot() machines: no metadata, the console says it
        notices = [f"{r.kind}: {r.title} ({c.path}:{r.line})" for c in consoles for r in c.notices]
    return TestResult(
        name=test_dir.name, nodeid=str(meta.get("test", "")), manifest=str(meta.get("manifest", "")),
        build=str(meta.get("build", "")), outcome=outcome, outcome_from=outcome_from, message=message,
        seconds=seconds, consoles=consoles, notices=notices, kernel=kernel, metrics=found,
        files=sorted(str(path.relative_to(run_dir)) for path in test_dir.rglob("*") if path.is_file()),
        owner_tables=owner_tables(run_dir, test_dir))


def tests_without_directory(junit: Path, directories: set[str]) -> list[TestResult]:
    """The JUnit cases that left no results directory (tests that boot nothing), so the
    page shows every test the run had, a failure of those included."""
    found = []
    for case in junit_summary.load(junit).cases:
        classname, _, name = case.name.rpartition("::")
        keys = {safe_name(name), safe_name(f"{classname.rsplit('.', 1)[-1]}::{name}")}
        if not keys & directories:
            found.append(TestResult(
                name=safe_name(name), nodeid=case.name, manifest="", build="", outcome=case.outcome,
                outcome_from=f"JUnit {junit.name}", message=case.message, seconds={"test (JUnit)": case.seconds},
                consoles=[], notices=[], kernel="", metrics=[], files=[]))
    return found


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
    cases = junit_cases(Path(junit))[0] if junit else {}
    tests = [load_test(run_dir, path, cases, f"JUnit {Path(junit).name}" if junit else "") for path in test_dirs]
    if junit and not is_xdist_worker_run(run_dir):  # one JUnit file covers every xdist worker's directory
        tests += tests_without_directory(Path(junit), {path.name for path in test_dirs})
    order = list(OUTCOMES)
    tests.sort(key=lambda test: (order.index(test.outcome), test.manifest, test.name))
    figures_file = run_dir / "figures.txt"
    figures = parse_figures(figures_file.read_text(errors="replace")) if figures_file.is_file() else []
    top = sorted(path.name for path in run_dir.iterdir() if path.is_file())
    return Report(run_dir=run_dir, tests=tests, figures=figures, junit=Path(junit) if junit else None,
                  junit_note=note, run_metadata=read_json(run_dir / "metadata.json"), files=top,
                  images=[name for name in top if name.endswith(".png")])

