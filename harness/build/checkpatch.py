"""The kernel's own scripts/checkpatch.pl over a series, from the manifest's tree.

    reports = check_series(tree_path, series)
    [r for r in reports if r.errors]

Each patch's full checkpatch output is kept in a log next to the others, so a
failure names the patch and the log, not a wall of text.
"""

import re
from dataclasses import dataclass
from pathlib import Path

from harness.build.series import Series
from harness.errors import HarnessError
from harness.proc import require_tools, run

STRICT = ("--strict", "--no-summary-file", "--color=never", "--showfile")
_TOTAL = re.compile(r"^total: (\d+) errors, (\d+) warnings, (\d+) checks", re.MULTILINE)


@dataclass(frozen=True)
class PatchReport:
    patch: Path
    errors: int
    warnings: int
    checks: int
    output: str


def parse_report(patch: Path, output: str) -> PatchReport:
    """checkpatch's `total: E errors, W warnings, C checks` line, or HarnessError if it has none."""
    match = _TOTAL.search(output)
    if match is None:
        raise HarnessError(f"checkpatch printed no total for {patch}",
                           hint=f"its output began: {output.strip()[:300]!r}")
    errors, warnings, checks = (int(group) for group in match.groups())
    return PatchReport(patch, errors, warnings, checks, output)


def check_series(tree: Path, series: Series, log: Path) -> list[PatchReport]:
    """Run checkpatch --strict on every patch of `series`, as the tree at `tree` has it."""
    require_tools("perl", purpose="checkpatch")
    script = tree / "scripts" / "checkpatch.pl"
    if not script.is_file():
        raise HarnessError(f"{script} does not exist", hint="fetch a full kernel source tree (mmharness fetch)")
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("")
    reports = []
    for patch in series.patches:
        # checkpatch exits non-zero on warnings too: the total line is the verdict.
        result = run(["perl", str(script), *STRICT, str(patch)], cwd=tree, what=f"checkpatch {patch.name}",
                     log=log, check=False)
        reports.append(parse_report(patch, result.stdout))
    return reports
