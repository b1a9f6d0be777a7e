"""A malformed record: the BadRecord a record parser raises, reported with its line and skipped."""

from __future__ import annotations

from typing import Callable, Iterator, TypeVar

from harness.results.parse.issues import Reporter
from harness.results.parse.lines import LineSource, iter_record_texts


class BadRecord(ValueError):
    """Internal: `offset` is the index of the offending line in its block."""

    def __init__(self, offset: int, message: str):
        super().__init__(message)
        self.offset = offset
        self.message = message


T = TypeVar("T")


def parse_records(lines: LineSource, parse: Callable[[str, int], T], report: Reporter) -> Iterator[T]:
    """Each record of `lines` parsed; a malformed one reported (report_bad) and skipped."""
    for lineno, rec in iter_record_texts(lines):
        try:
            yield parse(rec, lineno)
        except BadRecord as bad:
            report_bad(report, lineno, rec, bad)


def report_bad(report: Reporter, lineno: int, rec: str, bad: BadRecord) -> None:
    lines = rec.split("\n")
    offset = min(max(bad.offset, 0), len(lines) - 1)
    report(lineno + offset, bad.message, lines[offset])
