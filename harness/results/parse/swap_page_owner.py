"""Streaming parser for /sys/kernel/debug/swap_page_owner (the project's page-owner-swap series).

One record per swapped-out base page, blank-line separated. The series
prints the first line of a page_owner record (order 0: one base page) and
the swap type and offset:

    Page allocated via order 0, mask %#x(%pGg), pid %d, tgid %d (%s), ts %llu ns
    SWP type %u offset %#lx
     frame            (one per line, same style as page_owner; none in mode=handle)
    [handle: %u]      (mode=handle and mode=stack_handle)

Dumps of its first version (v1, kept in older results directories) are read too:

    Page allocated via pid %d, tgid %d (%s), ts %llu ns
    SWP entry %#lx
"""

from __future__ import annotations

from typing import Iterator

from harness.results.parse.bad_record import BadRecord, parse_records
from harness.results.parse.issues import OnIssue, Reporter
from harness.results.parse.lines import LineSource
from harness.results.parse.page_owner_lines import HANDLE, HEADER, parse_header as parse_page_owner_header, record_stack
from harness.results.parse.records import SWP_OFFSET_MASK, SWP_TYPE_SHIFT, SwapPageOwnerRecord
from harness.results.parse.stacks import StackInterner

HEADER_V1 = "Page allocated via pid "
SWP_ENTRY = "SWP entry "
SWP_TYPE = "SWP type "
MAX_SWP_TYPE = (1 << (63 - SWP_TYPE_SHIFT)) - 1


def parse_header(line: str) -> tuple[int, int, str, int]:
    """(pid, tgid, comm, ts_nsec) of v1's `Page allocated via pid %d, tgid %d (%s), ts %llu ns`."""
    rest = line[len(HEADER_V1) :]
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


def parse_swap_line(line: str) -> int:
    """The swap entry value of `SWP type %u offset %#lx` (or v1's `SWP entry %#lx`)."""
    try:
        if line.startswith(SWP_TYPE):
            type_s, sep, offset_s = line[len(SWP_TYPE) :].partition(" offset ")
            swp_type, offset = int(type_s), int(offset_s, 16)
            if not sep or not 0 <= swp_type <= MAX_SWP_TYPE or not 0 <= offset <= SWP_OFFSET_MASK:
                raise ValueError
            return swp_type << SWP_TYPE_SHIFT | offset
        if line.startswith(SWP_ENTRY):
            return int(line[len(SWP_ENTRY) :], 16)
    except ValueError:
        raise BadRecord(1, "malformed 'SWP' line") from None
    raise BadRecord(1, "expected a 'SWP type' line")


class SwapPageOwnerParser:
    __slots__ = ("interner",)

    def __init__(self, interner: StackInterner | None = None):
        self.interner = interner if interner is not None else StackInterner()

    def parse(self, rec: str, lineno: int = 1) -> SwapPageOwnerRecord:
        """One record from its text (lines joined by "\\n"); raises BadRecord."""
        header, _, rest = rec.partition("\n")
        gfp_mask = gfp_flags = None
        if header.startswith(HEADER):
            order, gfp_mask, gfp_flags, pid, tgid, comm, ts, _ = parse_page_owner_header(header)
            if order != 0 or pid is None or tgid is None or comm is None or ts is None:
                raise BadRecord(0, "a swap_page_owner record is one base page with pid, tgid, comm and ts")
        elif header.startswith(HEADER_V1):
            pid, tgid, comm, ts = parse_header(header)
        else:
            raise BadRecord(0, "expected a 'Page allocated via' line")
        swap_line, _, frames = rest.partition("\n")
        entry = parse_swap_line(swap_line)
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
        return SwapPageOwnerRecord(pid, tgid, comm, ts, entry, stack, handle, lineno, extra, gfp_mask, gfp_flags)


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
