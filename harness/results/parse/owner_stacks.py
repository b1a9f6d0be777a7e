"""Parsers for /sys/kernel/debug/page_owner_stacks/* (Linux 7.3, mm/page_owner.c stack_print()).

Each entry ends in a blank line:

    show_stacks:          frames (` %pS`), `nr_base_pages: %d`
    show_handles:         `handle: %d`, `nr_base_pages: %d`
    show_stacks_handles:  frames, `handle: %d`
    count_threshold:      `%llu`

show_stacks and show_handles skip stacks with fewer than 1 or than
count_threshold pages. The handle is a u32 printed with %d here and %u in
page_owner: it is normalised to the unsigned value.
"""

from __future__ import annotations

from typing import Iterator

from harness.results.parse.bad_record import BadRecord, parse_records
from harness.results.parse.issues import OnIssue, ParseError, ParseIssue, Reporter
from harness.results.parse.lines import LineSource
from harness.results.parse.page_owner_lines import HANDLE
from harness.results.parse.records import Stack, StackRecord
from harness.results.parse.stacks import StackInterner

NR_BASE_PAGES = "nr_base_pages: "
_TAIL = (HANDLE, NR_BASE_PAGES)


class StackRecordParser:
    __slots__ = ("interner",)

    def __init__(self, interner: StackInterner | None = None):
        self.interner = interner if interner is not None else StackInterner()

    def parse(self, rec: str, lineno: int = 1) -> StackRecord:
        """One entry from its text (lines joined by "\\n"); raises BadRecord."""
        lines = rec.split("\n")
        n = len(lines)
        j = n
        while j > 0 and lines[j - 1].startswith(_TAIL):
            j -= 1
        handle = pages = None
        for k in range(j, n):
            line = lines[k]
            try:
                if line.startswith(HANDLE):
                    handle = int(line[len(HANDLE) :]) & 0xFFFFFFFF
                else:
                    pages = int(line[len(NR_BASE_PAGES) :])
            except ValueError:
                raise BadRecord(k, "malformed number") from None
        stack: Stack = ()
        if j:
            stack, extra, bad = self.interner.resolve("\n".join(lines[:j]))
            if bad >= 0 or extra:
                raise BadRecord(bad if bad >= 0 else j - len(extra), "expected a stack frame")
        if handle is None and pages is None:
            raise BadRecord(n - 1, "expected 'handle:' or 'nr_base_pages:'")
        return StackRecord(stack, handle, pages, lineno)


def iter_stack_records(
    lines: LineSource,
    *,
    strict: bool = False,
    on_issue: OnIssue | None = None,
    interner: StackInterner | None = None,
    source: str = "",
) -> Iterator[StackRecord]:
    """Entries of show_stacks, show_handles or show_stacks_handles."""
    yield from parse_records(lines, StackRecordParser(interner).parse, Reporter(strict, on_issue, source))


def load_handle_map(
    lines: LineSource,
    *,
    strict: bool = False,
    on_issue: OnIssue | None = None,
    interner: StackInterner | None = None,
    source: str = "",
) -> dict[int, Stack]:
    """handle -> stack from show_stacks_handles (or any dump with frames and handles)."""
    report = Reporter(strict, on_issue, source)
    handles: dict[int, Stack] = {}
    for record in iter_stack_records(lines, strict=strict, on_issue=on_issue, interner=interner, source=source):
        if record.handle is None:
            report(record.lineno, "entry without 'handle:' (is this show_stacks_handles?)")
            continue
        known = handles.get(record.handle)
        if known is not None and known is not record.stack:
            report(record.lineno, f"handle {record.handle} listed twice with different stacks")
        handles[record.handle] = record.stack
    return handles


def pages_by_stack(records: Iterator[StackRecord] | list[StackRecord]) -> dict[Stack, int]:
    """nr_base_pages per stack (show_stacks), summed if a stack appears twice."""
    totals: dict[Stack, int] = {}
    for record in records:
        if record.nr_base_pages is not None:
            totals[record.stack] = totals.get(record.stack, 0) + record.nr_base_pages
    return totals


def parse_count_threshold(text: str) -> int:
    """page_owner_stacks/count_threshold (`%llu`)."""
    value = text.strip()
    if not value.isdecimal():
        raise ParseError(ParseIssue(1, "count_threshold is not a number", value))
    return int(value)
