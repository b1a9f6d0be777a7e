"""The pytest plugin's end of a run: report.html in every results directory of the run,
and on the pytest-xdist controller the workers' directories and figures.

Registered by harness.pytest_plugin. An xdist worker tells the controller its
results directory; the controller writes every report once its JUnit XML has
every test, and also finds the directory of a worker that died before telling
it (from the tests' `results` property).
"""

import os
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest

ERROR_FILE = "report-error.txt"
WORKER_RUN_DIR = "mmharness_run_dir"


def junit_path(config: pytest.Config) -> Path | None:
    """The --junitxml file, resolved as pytest's junitxml plugin resolves it."""
    option = getattr(config.option, "xmlpath", None)
    if not option:
        return None
    return Path(os.path.normpath(os.path.abspath(os.path.expanduser(os.path.expandvars(option)))))


def write_report(run_dir: Path, junit: Path | None) -> str:
    """report.html in run_dir; on any error, its traceback in run_dir/report-error.txt instead.

    The run's outcome stands either way: the report is written after the tests."""
    try:
        from harness.results import report  # matplotlib loads only when a run has results

        page, *_ = report.render(report.load(run_dir, junit), run_dir / "report.html")
    except Exception as error:
        (run_dir / ERROR_FILE).write_text(traceback.format_exc())
        return f"report: not written for {run_dir}: {type(error).__name__}: {error} (see {run_dir / ERROR_FILE})"
    return f"report: {page}"


class RunReports:
    def __init__(self, config: pytest.Config, own_run_dir: Callable[[], Path | None]):
        self.config = config
        self.own_run_dir = own_run_dir
        self.worker_dirs: dict[Path, None] = {}  # ordered set
        self.lines: list[str] = []

    def pytest_testnodedown(self, node, error):
        run_dir = getattr(node, "workeroutput", {}).get(WORKER_RUN_DIR)
        if run_dir:
            self.worker_dirs.setdefault(Path(run_dir), None)

    def pytest_runtest_logreport(self, report):
        if getattr(report, "node", None) is None:  # only the controller gets reports from workers
            return
        for name, value in report.user_properties:
            if name == "results":  # a test's directory, inside its worker's run directory
                self.worker_dirs.setdefault(Path(value).parent, None)

    @pytest.hookimpl(trylast=True)  # after junitxml has written its file
    def pytest_sessionfinish(self, session):
        own = self.own_run_dir()
        if hasattr(self.config, "workeroutput"):
            if own is not None:
                self.config.workeroutput[WORKER_RUN_DIR] = str(own)
            return
        if self.config.getoption("--no-report"):
            return
        junit = junit_path(self.config)
        for run_dir in ([own] if own is not None else []) + sorted(self.worker_dirs):
            self.lines.append(write_report(run_dir, junit))

    @pytest.hookimpl(trylast=True)  # after the plugin's own figures
    def pytest_terminal_summary(self, terminalreporter):
        for run_dir in sorted(self.worker_dirs):
            figures = run_dir / "figures.txt"
            if figures.is_file():
                terminalreporter.write_sep("=", f"figures of {run_dir.name}")
                terminalreporter.write_line(figures.read_text().rstrip())
            terminalreporter.write_line(f"results: {run_dir}")
        for line in self.lines:
            terminalreporter.write_line(line)
