"""What `mmharness report` knows of a results directory: its tests, their outcomes and consoles, its figures."""

from dataclasses import dataclass, field
from pathlib import Path

from harness.results import metrics
from harness.results.owner_tables import OwnerTable
from harness.results import crash

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


@dataclass(frozen=True)
class Console:
    path: str  # relative to the results directory
    fatal: tuple[crash.CrashReport, ...]
    notices: tuple[crash.CrashReport, ...]
    tail: str  # the last lines, for a failure the scanner explains nothing of




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


