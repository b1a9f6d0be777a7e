"""Which debugfs file a dump came from, from its first lines."""

from __future__ import annotations

from harness.results.parse.lines import LineSource, peek_lines
from harness.results.parse.stacks import normalise_frame

PAGE_OWNER = "page_owner"
SWAP_PAGE_OWNER = "swap_page_owner"
STACKS = "stacks"
KINDS = (PAGE_OWNER, SWAP_PAGE_OWNER, STACKS)

# How far to look for a record header when a dump starts mid-record.
PEEK_LINES = 256


def kind_of_line(line: str) -> str | None:
    if line.startswith("Page allocated via order "):
        return PAGE_OWNER
    if line.startswith("Page allocated via pid "):
        return SWAP_PAGE_OWNER
    if line.startswith(("handle: ", "nr_base_pages: ")) or normalise_frame(line) is not None:
        return STACKS
    return None


def peek_kind(lines: LineSource) -> tuple[str | None, LineSource]:
    """(kind or None, a source equivalent to `lines` with nothing consumed).

    A record header decides; frames and handle lines without any header in the
    first PEEK_LINES lines mean page_owner_stacks. Empty input: None.
    """
    head, lines = peek_lines(lines, PEEK_LINES)
    guess = None
    for index, line in enumerate(head):
        line = line.rstrip("\r\n")
        if not line:
            continue
        kind = kind_of_line(line)
        if kind == PAGE_OWNER and index + 1 < len(head) and head[index + 1].startswith("SWP "):
            return SWAP_PAGE_OWNER, lines  # the v2 series prints page_owner's first line, then the swap slot
        if kind in (PAGE_OWNER, SWAP_PAGE_OWNER):
            return kind, lines
        if kind == STACKS and guess is None:
            guess = kind
    return guess, lines
