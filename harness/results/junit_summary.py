"""A Markdown summary of JUnit XML results, for $GITHUB_STEP_SUMMARY.

    python -m harness.results.junit_summary results/junit-default.xml [MORE.xml ...]

Prints one table per file: failures and errors first (with their message),
then skips (with the reason), then passes.
"""

import sys
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError

# Display order and label of each outcome.
OUTCOMES = {"error": "💥 error", "failed": "❌ failed", "skipped": "⏭️ skipped", "passed": "✅ passed"}
MESSAGE_CHARS = 300


@dataclass(frozen=True)
class Case:
    name: str  # classname::name, as pytest's node id without the file's .py
    outcome: str  # a key of OUTCOMES
    seconds: float
    message: str  # first line of the failure, error or skip message


@dataclass(frozen=True)
class Suite:
    path: Path
    cases: tuple[Case, ...]

    def count(self, outcome: str) -> int:
        return sum(case.outcome == outcome for case in self.cases)


def _case(element: ElementTree.Element) -> Case:
    classname, name = element.get("classname", ""), element.get("name", "")
    outcome, message = "passed", ""
    # pytest writes <error> after <failure> for a teardown error: the first one found wins.
    for tag, result in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
        child = element.find(tag)
        if child is not None:
            outcome = result
            message = child.get("message") or (child.text or "")
            break
    return Case(name=f"{classname}::{name}" if classname else name, outcome=outcome,
                seconds=float(element.get("time") or 0), message=message.strip().split("\n")[0])


def load(path: Path) -> Suite:
    path = Path(path)
    try:
        root = ElementTree.parse(path).getroot()
    except FileNotFoundError:
        raise HarnessError(f"JUnit file {path} does not exist",
                           hint="the run stopped before pytest wrote it; see the job's log") from None
    except ElementTree.ParseError as error:
        raise HarnessError(f"{path} is not JUnit XML: {error}") from None
    return Suite(path, tuple(_case(element) for element in root.iter("testcase")))


def _cell(text: str) -> str:
    text = text if len(text) <= MESSAGE_CHARS else text[:MESSAGE_CHARS - 1] + "…"
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;")


def render(suite: Suite) -> str:
    counts = ", ".join(f"{suite.count(outcome)} {outcome}" for outcome in ("passed", "failed", "error", "skipped"))
    seconds = sum(case.seconds for case in suite.cases)
    lines = [f"### {suite.path.name}: {len(suite.cases)} tests, {counts} ({seconds:.0f} s)", ""]
    if not suite.cases:
        return "\n".join(lines + ["No test ran."])
    lines += ["| Result | Test | Time (s) | Message |", "|---|---|---:|---|"]
    order = list(OUTCOMES)
    for case in sorted(suite.cases, key=lambda case: order.index(case.outcome)):  # stable: file order within
        lines.append(f"| {OUTCOMES[case.outcome]} | `{_cell(case.name)}` | {case.seconds:.1f} | {_cell(case.message)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    files = sys.argv[1:] if argv is None else argv
    if not files or any(name in ("-h", "--help") for name in files):
        print(__doc__.strip(), file=sys.stderr)
        return 0 if files else 2
    try:
        print("\n\n".join(render(load(Path(name))) for name in files))
    except HarnessError as error:
        print(f"junit_summary: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
