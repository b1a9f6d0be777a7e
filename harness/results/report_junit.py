"""Which JUnit XML tells the outcomes of a results directory's tests, and what it says of each."""

import re
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from harness.errors import HarnessError
from harness.paths import safe_name
from harness.results import junit_summary

JUNIT_SLACK_SECONDS = 120


@dataclass(frozen=True)
class JUnitCase:
    outcome: str
    seconds: float
    message: str


def junit_cases(path: Path) -> tuple[dict[str, JUnitCase], float | None, float]:
    """Cases by results-directory name (as the plugin's results_dir fixture names it),
    the suite's start (epoch) and its seconds."""
    suite = junit_summary.load(path)
    cases = {}
    for case in suite.cases:
        classname, _, name = case.name.rpartition("::")
        value = JUnitCase(case.outcome, case.seconds, case.message)
        cases.setdefault(safe_name(name), value)
        if classname:
            cases.setdefault(safe_name(f"{classname.rsplit('.', 1)[-1]}::{name}"), value)
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


def run_started(run_dir: Path) -> float | None:
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
    started = run_started(run_dir)
    for candidate in sorted(run_dir.glob("junit*.xml")) + sorted(run_dir.parent.glob("junit*.xml")):
        try:
            cases, begin, seconds = junit_cases(candidate)
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
