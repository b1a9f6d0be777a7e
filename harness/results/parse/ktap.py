"""KTAP / TAP 13 output of the kernel's selftests: results, directives, plans, nesting.

What kselftest programs print (tools/testing/selftests/kselftest.h):

    TAP version 13
    1..3
    # [RUN] Basic COW after fork() ... with base page
    ok 1 Basic COW after fork() ... with base page
    not ok 2 something # exit=1
    ok 3 # SKIP test_zswapin
    # Totals: pass:1 fail:1 xfail:0 xpass:0 skip:1 error:0

A skip (and an xfail) carries the test's name after the directive and no
description, so a result's `label` is its description, else the directive's
text. Nested KTAP subtests are indented (4 spaces in KTAP 1, 2 or more in
kselftest_harness) and come before their parent's own result line; they are
kept as the parent's `children`. Diagnostic lines ("# ...") before a result
are kept with it (its log), as is any other output line (a program's stray
printf, a crash message).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from harness.errors import HarnessError

_VERSION = re.compile(r"^(?:K?TAP) version (\d+)\s*$")
_PLAN = re.compile(r"^1\.\.(\d+)\b")
_RESULT = re.compile(r"^(not ok|ok)\b(?:\s+(\d+))?(?:\s+-)?\s*(.*)$")
_DIRECTIVE = re.compile(r"(?:^|\s)#\s*(SKIP|XFAIL|TODO|XPASS|error)\b:?\s*(.*)$", re.IGNORECASE)
_TOTALS = re.compile(r"^#\s*Totals:\s*(.*)$")
_BAIL = re.compile(r"^Bail out!\s*(.*)$")

PASS, FAIL, SKIP, XFAIL, XPASS, ERROR = "pass", "fail", "skip", "xfail", "xpass", "error"


@dataclass(frozen=True)
class Result:
    """One `ok` / `not ok` line."""

    number: int
    ok: bool
    description: str  # the text before any `# DIRECTIVE`, often empty on a skip
    directive: str = ""  # "SKIP", "XFAIL", "TODO", "XPASS", "ERROR" or ""
    reason: str = ""  # the directive's text
    log: tuple[str, ...] = ()  # the lines since the previous result at this level
    children: tuple[Result, ...] = ()
    line: int = 0  # 1-based line number in the output

    @property
    def label(self) -> str:
        """What names the subtest: its description, else (kselftest's skips) the directive's text."""
        return self.description or self.reason

    @property
    def status(self) -> str:
        if self.directive == "SKIP":
            return SKIP
        if self.directive == "XFAIL":
            return XFAIL
        if self.directive == "XPASS":
            return XPASS
        if self.directive == "ERROR":
            return ERROR
        if self.directive == "TODO":  # TAP: a TODO failure is not a failure
            return PASS if self.ok else XFAIL
        return PASS if self.ok else FAIL


@dataclass(frozen=True)
class Run:
    """One program's TAP stream."""

    version: int | None
    plan: int | None
    results: tuple[Result, ...]
    totals: dict[str, int] = field(default_factory=dict)  # kselftest's "# Totals:" line
    bail_out: str | None = None  # the last "Bail out!" message
    trailing: tuple[str, ...] = ()  # lines after the last result (exit messages, "# Totals")

    @property
    def complete(self) -> bool:
        """Every planned result is there. A "Bail out!" alone does not make a run incomplete:
        a forked child's (khugepaged's) comes in the middle of its parent's results."""
        return self.plan is not None and len(self.results) == self.plan

    def counts(self) -> dict[str, int]:
        counted = {status: 0 for status in (PASS, FAIL, SKIP, XFAIL, XPASS, ERROR)}
        for result in self.results:
            counted[result.status] += 1
        return counted


def _result(match: re.Match, log: list[str], children: list[Result], line: int, where: str) -> Result:
    verdict, number, rest = match.groups()
    if number is None:
        raise HarnessError(f"{where}:{line}: a result line without a test number: {match.string!r}",
                           hint="kselftest always numbers its results; is this TAP from another producer?")
    directive, reason = "", ""
    found = _DIRECTIVE.search(rest)
    if found:
        directive, reason = found.group(1).upper(), found.group(2).strip()
        rest = rest[:found.start()]
    return Result(int(number), verdict == "ok", rest.strip(), directive, reason, tuple(log), tuple(children), line)


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip(" "))


def parse(lines: Iterable[str], where: str = "<tap>") -> Run:
    """Parse a TAP/KTAP stream; `where` names the input in error messages."""
    numbered = [(number, raw.rstrip("\n").expandtabs()) for number, raw in enumerate(lines, start=1)]
    run, rest = _parse_level(numbered, 0, 0, where)
    if rest != len(numbered):
        number, text = numbered[rest]
        raise HarnessError(f"{where}:{number}: unexpected indentation: {text!r}")
    return run


def _parse_level(lines: list[tuple[int, str]], start: int, indent: int, where: str) -> tuple[Run, int]:
    """The results at `indent` from lines[start:], until a line indented less; (run, next index)."""
    version = plan = bail = None
    totals: dict[str, int] = {}
    results: list[Result] = []
    log: list[str] = []
    children: list[Result] = []
    index = start
    while index < len(lines):
        number, text = lines[index]
        if not text.strip():
            index += 1
            continue
        depth = _indent(text)
        body = text.strip()
        if depth < indent and (_RESULT.match(body) or _VERSION.match(body) or _PLAN.match(body)):
            break  # the parent's next line
        if depth > indent and (_VERSION.match(body) or _RESULT.match(body) or _PLAN.match(body)):
            nested, index = _parse_level(lines, index, depth, where)
            children = list(nested.results)
            continue
        index += 1
        if (match := _VERSION.match(body)) and version is None and not results:
            version = int(match.group(1))
        elif (match := _PLAN.match(body)) and plan is None:
            plan = int(match.group(1))
        elif match := _RESULT.match(body):
            results.append(_result(match, log, children, number, where))
            log, children = [], []
        elif match := _BAIL.match(body):
            bail = match.group(1)
            log.append(body)
        else:
            if match := _TOTALS.match(body):
                totals = {key: int(value) for key, value in re.findall(r"(\w+):(\d+)", match.group(1))}
            log.append(body)
    if not results and children:  # a block holding only a deeper block: those are its results
        results = children
    return Run(version, plan, tuple(results), totals, bail, tuple(log)), index


def parse_text(text: str, where: str = "<tap>") -> Run:
    return parse(text.splitlines(), where)
