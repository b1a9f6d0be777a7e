"""Malformed input: reported with its line number and skipped, or fatal in strict mode."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

from harness.errors import HarnessError

log = logging.getLogger("harness.results.parse")

# Keep reports small even when a "line" is a megabyte of garbage.
_MAX_QUOTE = 160


@dataclass(frozen=True, slots=True)
class ParseIssue:
    """One malformed record or line. `lineno` is 1-based, in the input as read."""

    lineno: int
    message: str
    line: str = ""
    source: str = ""

    def __str__(self) -> str:
        where = f"{self.source}:{self.lineno}" if self.source else f"line {self.lineno}"
        quote = f": {self.line!r}" if self.line else ""
        return f"{where}: {self.message}{quote}"


class ParseError(HarnessError):
    """Strict mode: the first malformed record stops the parse."""

    def __init__(self, issue: ParseIssue):
        super().__init__(str(issue), hint="fix the input, or parse without strict mode to skip bad records")
        self.issue = issue
        self.lineno = issue.lineno


OnIssue = Callable[[ParseIssue], object]


class Reporter:
    """Routes issues: raise (strict), a caller's callback (e.g. `list.append`), or the log."""

    __slots__ = ("strict", "on_issue", "source", "count")

    def __init__(self, strict: bool = False, on_issue: OnIssue | None = None, source: str = ""):
        self.strict = strict
        self.on_issue = on_issue
        self.source = source
        self.count = 0

    def __call__(self, lineno: int, message: str, line: str = "") -> None:
        line = line.rstrip("\r\n")
        if len(line) > _MAX_QUOTE:
            line = line[:_MAX_QUOTE] + "..."
        issue = ParseIssue(lineno, message, line, self.source)
        self.count += 1
        if self.strict:
            raise ParseError(issue)
        if self.on_issue is not None:
            self.on_issue(issue)
        else:
            log.warning("%s", issue)
