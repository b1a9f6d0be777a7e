"""Handle mode: records that carry `handle: N` instead of frames, joined with show_stacks_handles.

7.3 lets a page_owner reader write `mode=handle` to its own open descriptor;
frames are then symbolised once per stack (show_stacks_handles) instead of
once per page. Read show_stacks_handles after page_owner: the stack list only
grows, so every handle seen in the dump is in it.
"""

from __future__ import annotations

from typing import Iterable, Iterator, Mapping, TypeVar

from harness.parse.issues import OnIssue, Reporter
from harness.parse.records import PageOwnerRecord, Stack, SwapPageOwnerRecord

R = TypeVar("R", PageOwnerRecord, SwapPageOwnerRecord)


def join_handles(
    records: Iterable[R],
    handles: Mapping[int, Stack],
    *,
    strict: bool = False,
    on_issue: OnIssue | None = None,
    source: str = "",
) -> Iterator[R]:
    """Fill `stack` of handle-only records from `handles` (see owner_stacks.load_handle_map).

    A handle missing from the map is reported once per handle; its records keep
    stack None (aggregations then key them by the handle number). Records that
    carry both frames and a handle (mode=stack_handle) are checked against the map.
    """
    report = Reporter(strict, on_issue, source)
    missing: set[int] = set()
    for record in records:
        handle = record.handle
        if handle is not None:
            stack = handles.get(handle)
            if record.stack is None:
                if stack is not None:
                    record.stack = stack
                elif handle not in missing:
                    missing.add(handle)
                    report(record.lineno, f"handle {handle} is not in show_stacks_handles")
            elif stack is not None and stack is not record.stack and stack != record.stack:
                report(record.lineno, f"frames of handle {handle} differ from show_stacks_handles")
        yield record
