"""Line sources and blank-line separated blocks, the shape of every debugfs dump here."""

from __future__ import annotations

import itertools
from typing import Iterable, Iterator

LineSource = Iterable[str] | Iterable[bytes] | str | bytes


def as_lines(source: LineSource) -> Iterator[str]:
    """Text lines from a file, an SSH channel's lines, a list, or one whole str/bytes.

    Lines may keep or lack their newline; bytes are decoded as UTF-8 with
    replacement (a comm is whatever bytes a task put there).
    """
    if isinstance(source, str):
        return iter(source.splitlines())
    if isinstance(source, (bytes, bytearray)):
        return iter(source.decode("utf-8", "replace").splitlines())
    it = iter(source)
    first = next(it, None)
    if first is None:
        return iter(())
    if isinstance(first, (bytes, bytearray)):
        return (line.decode("utf-8", "replace") for line in itertools.chain((first,), it))
    return itertools.chain((first,), it)


def iter_blocks(lines: LineSource) -> Iterator[tuple[int, list[str]]]:
    """Yield (line number of the block's first line, its lines) for each block.

    Blocks are separated by one or more blank lines; a last block without a
    trailing blank line is kept. Lines are yielded as read (newline kept if the
    source had it) so the hot loop allocates nothing per line.
    """
    block: list[str] = []
    start = 0
    lineno = 0
    for lineno, line in enumerate(as_lines(lines), 1):
        if not line or line.isspace():
            if block:
                yield start, block
                block = []
        else:
            if not block:
                start = lineno
            block.append(line)
    if block:
        yield start, block
