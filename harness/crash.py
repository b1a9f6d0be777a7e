"""Kernel crash reports in console output, with the patterns syzkaller and KUnit use."""

import re
from dataclasses import dataclass

# Most specific first: a KASAN report also starts with "BUG:", a soft lockup
# with "watchdog: BUG:", and the first pattern a line matches names its kind.
PATTERNS: list[tuple[str, re.Pattern]] = [(kind, re.compile(rx)) for kind, rx in [
    ("KASAN", r"\bKASAN: "),
    ("UBSAN", r"\bUBSAN: "),
    ("soft lockup", r"soft lockup - CPU#"),
    ("hung task", r"INFO: task \S.* blocked for more than \d+ seconds"),
    ("rcu stall", r"rcu: INFO: \S+ (self-)?detected stall"),
    ("general protection fault", r"general protection fault"),
    ("Unable to handle kernel", r"Unable to handle kernel"),
    ("Kernel panic", r"Kernel panic - not syncing"),
    ("BUG", r"\bBUG: |kernel BUG at "),
    ("WARNING", r"\bWARNING: "),
    ("Oops", r"\bOops\b"),
    # warn_alloc(): an allocation without __GFP_NOWARN failed. It prints a
    # Call Trace but is no kernel bug by itself (see NOT_FATAL).
    ("page allocation failure", r"page allocation failure: order:\d+"),
    ("Call Trace", r"\bCall Trace:"),
]]

# Reported (console, metadata, test output) but not a failure on their own:
# under the round trip's deliberate memory pressure, Linux 7.3 itself can fail
# an order-0 swap table allocation in kswapd (swap_cluster_alloc_table) and
# say so. Tests that want them fatal use `fatal(reports, strict=True)`.
NOT_FATAL = frozenset({"page allocation failure"})

BEFORE = 5
AFTER = 40
# The kernel closes each report with "---[ end trace ... ]---" (or "end Kernel panic").
END_OF_REPORT = re.compile(r"---\[ end ")
# Anything up to the printk timestamp "[   12.345678]" and caller id "[    T1]"
# (a shell prompt on the console may precede a kernel line).
PREFIX = re.compile(r"^.*?\[\s*\d+\.\d+\]\s*(\[\s*[TC]\d+\]\s*)?")


@dataclass(frozen=True)
class CrashReport:
    kind: str  # the pattern's name, e.g. "BUG" or "Kernel panic"
    title: str  # the first matching line without its timestamp
    line: int  # 1-based line number in the scanned text
    excerpt: str  # a few lines before, up to AFTER lines after (or to the end marker)

    def __str__(self) -> str:
        return f"{self.kind} at console line {self.line}: {self.title}\n{self.excerpt}"


def classify(line: str) -> str | None:
    """The crash kind a single console line starts, or None."""
    for kind, pattern in PATTERNS:
        if pattern.search(line):
            return kind
    return None


def scan(text: str, first_line: int = 1) -> list[CrashReport]:
    """Every crash report in `text`; lines inside a report do not start another."""
    lines = [line.rstrip("\r") for line in text.split("\n")]
    reports = []
    covered_until = 0  # index of the first line not inside the previous excerpt
    for index, line in enumerate(lines):
        if index < covered_until:
            continue
        kind = classify(line)
        if kind is None:
            continue
        end = min(len(lines), index + AFTER + 1)
        for later in range(index + 1, end):
            if END_OF_REPORT.search(lines[later]):
                end = later + 1
                break
        start = max(0, index - BEFORE)
        reports.append(CrashReport(
            kind=kind,
            title=PREFIX.sub("", line).strip(),
            line=first_line + index,
            excerpt="\n".join(lines[start:end]).rstrip("\n"),
        ))
        covered_until = end
    return reports


def fatal(reports: list[CrashReport], strict: bool = False) -> list[CrashReport]:
    return list(reports) if strict else [r for r in reports if r.kind not in NOT_FATAL]


def notices(reports: list[CrashReport]) -> list[CrashReport]:
    return [r for r in reports if r.kind in NOT_FATAL]


def panicked(text: str) -> bool:
    return "Kernel panic - not syncing" in text


def summary(reports: list[CrashReport], limit: int = 3) -> str:
    """A short text for error messages: titles and the first excerpt."""
    if not reports:
        return ""
    titles = "\n".join(f"  - {r.kind}: {r.title} (console line {r.line})" for r in reports[:limit])
    more = f"\n  ... and {len(reports) - limit} more" if len(reports) > limit else ""
    return f"{titles}{more}\n--- first report ---\n{reports[0].excerpt}"
