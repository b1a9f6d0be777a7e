"""One entry point for a page_owner or swap_page_owner dump: detect, parse, join handles."""

from __future__ import annotations

from typing import Iterator, Mapping

from harness.results.parse.detect import PAGE_OWNER, STACKS, SWAP_PAGE_OWNER, peek_kind
from harness.results.parse.handles import JoinStats, join_handles
from harness.results.parse.issues import OnIssue, ParseError, ParseIssue
from harness.results.parse.lines import LineSource, as_lines
from harness.results.parse.owner_stacks import iter_stack_records, load_handle_map
from harness.results.parse.page_owner import iter_page_owner
from harness.results.parse.records import PageOwnerRecord, Stack, StackRecord, SwapPageOwnerRecord
from harness.results.parse.stacks import StackInterner
from harness.results.parse.swap_page_owner import iter_swap_page_owner

Record = PageOwnerRecord | SwapPageOwnerRecord
Handles = Mapping[int, Stack] | LineSource


def iter_records(
    lines: LineSource,
    *,
    kind: str | None = None,
    handles: Handles | None = None,
    strict: bool = False,
    on_issue: OnIssue | None = None,
    interner: StackInterner | None = None,
    join_stats: JoinStats | None = None,
    source: str = "",
) -> Iterator[Record] | Iterator[StackRecord]:
    """Records of a dump of `kind` (detected from the first line if None).

    `handles` (a handle -> stack mapping, or the lines of show_stacks_handles)
    fills the stacks of handle-mode records; `join_stats` then counts the
    handles it did not know. An empty input yields nothing.
    """
    detected, lines = peek_kind(lines)
    kind = kind or detected
    if kind is None:
        if not any(line.strip() for line in as_lines(lines)):
            return iter(())
        raise ParseError(ParseIssue(1, "not a page_owner, swap_page_owner or page_owner_stacks dump", source=source))
    interner = interner if interner is not None else StackInterner()
    common = dict(strict=strict, on_issue=on_issue, interner=interner, source=source)
    if kind == STACKS:
        return iter_stack_records(lines, **common)
    if kind == PAGE_OWNER:
        records: Iterator[Record] = iter_page_owner(lines, **common)
    elif kind == SWAP_PAGE_OWNER:
        records = iter_swap_page_owner(lines, **common)
    else:
        raise ValueError(f"unknown dump kind {kind!r}")
    if handles is not None:
        if not isinstance(handles, Mapping):
            handles = load_handle_map(handles, **common)
        records = join_handles(records, handles, stats=join_stats, strict=strict, on_issue=on_issue, source=source)
    return records
