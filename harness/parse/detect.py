"""Which debugfs file a dump came from, from its first non-blank line."""

from __future__ import annotations

import itertools
from typing import Iterator

from harness.parse.lines import LineSource, as_lines
from harness.parse.stacks import normalise_frame

PAGE_OWNER = "page_owner"
SWAP_PAGE_OWNER = "swap_page_owner"
STACKS = "stacks"
KINDS = (PAGE_OWNER, SWAP_PAGE_OWNER, STACKS)


def kind_of_line(line: str) -> str | None:
    if line.startswith("Page allocated via order "):
        return PAGE_OWNER
    if line.startswith("Page allocated via pid "):
        return SWAP_PAGE_OWNER
    if line.startswith((" ", "handle: ", "nr_base_pages: ", "[<")):
        return STACKS
    if normalise_frame(line) is not None:  # frames of kernels that printed no leading space
        return STACKS
    return None


def peek_kind(lines: LineSource) -> tuple[str | None, Iterator[str]]:
    """(kind or None, the same lines, none consumed). An empty input has kind None."""
    it = as_lines(lines)
    head: list[str] = []
    for line in it:
        head.append(line)
        if line and not line.isspace():
            return kind_of_line(line), itertools.chain(head, it)
    return None, iter(head)
