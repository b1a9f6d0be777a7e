"""Stack frames: recognising, normalising and interning them.

A frame is printed by stack_trace_snprint() as `" %pS"` (7.3: one leading
space, `sym+0xoff/0xsize [module]`, or a bare `0xaddr` without kallsyms).
Older kernels printed no space, very old ones `[<addr>] sym+0x../0x..`; all
normalise to the `sym+0x../0x..` text.
"""

from __future__ import annotations

import re
from typing import Iterable

from harness.results.parse.records import Stack

_FRAME = re.compile(
    r"(?:\[<[0-9a-fA-F]+>\] )?"  # very old kernels
    r"(?:\S+\+0x[0-9a-fA-F]+/0x[0-9a-fA-F]+(?: \[[^\]]+\])?"  # sym+off/size [module buildid]
    r"|0x[0-9a-fA-F]+)"  # no symbol
)


def normalise_frame(line: str) -> str | None:
    """The frame text of one line, or None if the line is not a stack frame."""
    text = line.strip()
    if not _FRAME.fullmatch(text):
        return None
    if text.startswith("[<"):
        text = text.partition("] ")[2]
    return text


class StackInterner:
    """Maps the text of frame lines to one shared tuple per distinct stack.

    Parsers look up the raw text of a record's frame region: the first time
    it is split, normalised and validated, afterwards it is one dict lookup.
    Memory is bounded by the number of distinct stacks, not of records.
    """

    __slots__ = ("_by_text", "_stacks")

    def __init__(self) -> None:
        # frame region text -> (stack, extra lines, index of a non-frame line before a frame, or -1)
        self._by_text: dict[str, tuple[Stack, tuple[str, ...], int]] = {}
        self._stacks: dict[Stack, Stack] = {}

    def __len__(self) -> int:
        return len(self._stacks)

    def intern(self, frames: Iterable[str]) -> Stack:
        stack = tuple(frames)
        return self._stacks.setdefault(stack, stack)

    def resolve(self, text: str) -> tuple[Stack, tuple[str, ...], int]:
        """(stack, extra, bad) for the lines of a frame region ("\\n"-separated).

        Lines after the last frame that are not frames are `extra` (a line a
        newer kernel may add); a non-frame line before a frame is malformed and
        `bad` is its index (else -1).
        """
        found = self._by_text.get(text)
        if found is None:
            found = self._resolve(text.split("\n"))
            self._by_text[text] = found
        return found

    def _resolve(self, lines: list[str]) -> tuple[Stack, tuple[str, ...], int]:
        frames = [normalise_frame(line) for line in lines]
        last = len(frames) - 1
        while last >= 0 and frames[last] is None:
            last -= 1
        for index in range(last + 1):
            if frames[index] is None:
                return (), (), index
        stack = self.intern(frames[: last + 1])  # type: ignore[arg-type]
        extra = tuple(line.strip() for line in lines[last + 1 :])
        return stack, extra, -1
