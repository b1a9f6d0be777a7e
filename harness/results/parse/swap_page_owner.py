"""Streaming parser for /sys/kernel/debug/swap_page_owner (the project's page-owner-swap series).

One record per swapped-out base page, blank-line separated:

    Page allocated via pid %d, tgid %d (%s), ts %llu ns
    SWP entry %#lx
     frame            (one per line, same style as page_owner)
    [handle: %u]      (accepted, should the file ever get a handle mode)
"""

from __future__ import annotations

from typing import Iterator

from harness.results.parse.bad_record import BadRecord, parse_records
from harness.results.parse.issues import OnIssue, Reporter
from harness.results.parse.lines import LineSource
from harness.results.parse.page_owner_lines import HANDLE, record_stack
from harness.results.parse.records import SwapPageOwnerRecord
from harness.results.parse.stacks import StackInterner

HEADER = "Page allocated via pid "
SWP_ENTRY = "SWP entry "


def parse_header(line: str) -> tuple[int, int, str, int]:
    """(pid, tgid, comm, ts_nsec) of `Page allocated via pid %d, tgid %d (%s), ts %llu ns`."""
    rest = line[len(HEADER) :]
    pid_s, sep1, rest = rest.partition(", tgid ")
    tgid_s, sep2, rest = rest.partition(" (")
    comm, sep3, rest = rest.rpartition("), ts ")
    ts_s, sep4, tail = rest.partition(" ns")
    if not (sep1 and sep2 and sep3 and sep4) or tail or not ts_s.isdecimal():
        raise BadRecord(0, "malformed 'Page allocated via pid' line")
    try:
        return int(pid_s), int(tgid_s), comm, int(ts_s)
    except ValueError:
        raise BadRecord(0, "malformed 'Page allocated via pid' line") from None


class SwapPageOwnerParser:
    __slots__ = ("interner",)

    def __init__(self, interner: StackInterner | None = None):
        self.interner = interner if interner is not None else StackInterner()

    def parse(self, rec: str, lineno: int = 1) -> SwapPageOwnerRecord:
        """One record from its text (lines joined by "\\n"); raises BadRecord."""
        header, _, rest = rec.partition("\n")
        if not header.startswith(HEADER):
            raise BadRecord(0, "expected a 'Page allocated via pid' line")
        pid, tgid, comm, ts = parse_header(header)
        entry_line, _, frames = rest.partition("\n")
        if not entry_line.startswith(SWP_ENTRY):
            raise BadRecord(1, "expected a 'SWP entry' line")
        try:
            entry = int(entry_line[len(SWP_ENTRY) :], 16)
        except ValueError:
            raise BadRecord(1, "malformed 'SWP entry' line") from None
        handle = None
        last_nl = frames.rfind("\n")
        if frames.startswith(HANDLE, last_nl + 1):
            try:
                handle = int(frames[last_nl + 1 + len(HANDLE) :]) & 0xFFFFFFFF
            except ValueError:
                raise BadRecord(2 + frames.count("\n"), "malformed handle line") from None
            frames = frames[:last_nl] if last_nl >= 0 else ""
        stack = None
        extra: tuple[str, ...] = ()
        if frames:
            stack, extra, bad = self.interner.resolve(frames)
            if bad >= 0:
                raise BadRecord(2 + bad, "expected a stack frame")
        stack = record_stack(stack, handle)
        return SwapPageOwnerRecord(pid, tgid, comm, ts, entry, stack, handle, lineno, extra)


def iter_swap_page_owner(
    lines: LineSource,
    *,
    strict: bool = False,
    on_issue: OnIssue | None = None,
    interner: StackInterner | None = None,
    source: str = "",
) -> Iterator[SwapPageOwnerRecord]:
    """Records of a swap_page_owner dump; malformed ones reported and skipped (or ParseError if strict)."""
    yield from parse_records(lines, SwapPageOwnerParser(interner).parse, Reporter(strict, on_issue, source))
