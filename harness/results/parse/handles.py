"""Handle mode: records that carry `handle: N` instead of frames, joined with show_stacks_handles.

7.3 lets a page_owner reader write `mode=handle` to its own open descriptor;
frames are then symbolised once per stack (show_stacks_handles) instead of
once per page. Read show_stacks_handles after page_owner: the stack list only
grows, so stacks seen in the dump are in it, with known exceptions:
early-allocated pages carry early_handle, which is never put on the list
(mm/page_owner.c init_page_owner()), and a stack is missing too when its list
node could not be allocated or its first allocation could not spin (no
__GFP_RECLAIM bit, as in early boot or slab's opportunistic new_slab try:
inc_stack_record_count() skips add_stack_record_to_list() and never retries).
Such handles are counted in JoinStats, not reported as malformed input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator, Mapping, TypeVar

from harness.results.parse.issues import OnIssue, Reporter
from harness.results.parse.records import PageOwnerRecord, Stack, SwapPageOwnerRecord

R = TypeVar("R", PageOwnerRecord, SwapPageOwnerRecord)


@dataclass
class JoinStats:
    joined: int = 0
    # handle -> (records, pages) of handles absent from show_stacks_handles
    missing: dict[int, list[int]] = field(default_factory=dict)

    @property
    def missing_records(self) -> int:
        return sum(records for records, _ in self.missing.values())

    @property
    def missing_pages(self) -> int:
        return sum(pages for _, pages in self.missing.values())


def join_handles(
    records: Iterable[R],
    handles: Mapping[int, Stack],
    *,
    stats: JoinStats | None = None,
    strict: bool = False,
    on_issue: OnIssue | None = None,
    source: str = "",
) -> Iterator[R]:
    """Fill `stack` of handle-only records from `handles` (see owner_stacks.load_handle_map).

    Records whose handle is not in the map keep stack None (aggregations key
    them by the handle number). Records with both frames and a handle
    (mode=stack_handle) are checked against the map: a difference is reported.
    """
    report = Reporter(strict, on_issue, source)
    stats = stats if stats is not None else JoinStats()
    for record in records:
        handle = record.handle
        if handle is not None:
            stack = handles.get(handle)
            if record.stack is None:
                if stack is not None:
                    record.stack = stack
                    stats.joined += 1
                else:
                    tally = stats.missing.get(handle)
                    if tally is None:
                        tally = stats.missing[handle] = [0, 0]
                    tally[0] += 1
                    tally[1] += record.pages
            elif stack is not None and stack is not record.stack and stack != record.stack:
                report(record.lineno, f"frames of handle {handle} differ from show_stacks_handles")
        yield record
