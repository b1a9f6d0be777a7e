"""One status line for a long phase: done so far against an expected total, and the time.

On a terminal the line is redrawn in place (`\\r`) every 2 s; anywhere else
(a pipe, a CI log, pytest's captured output) a plain line is printed every
30 s, so logs stay readable. A phase that ends before its first line is due
prints nothing; one that printed ends with a final line and the elapsed time.

    with Progress("downloading linux-source-7.3", Unit.BYTES, expected=size, estimate=False) as shown:
        shown.update(partial.stat().st_size)   # or shown.advance(len(chunk)); shown.tick() for seconds

    building page-owner[page_owner=y]: 4213/~5012 objects, 3m05s
    downloading linux-source-7.3: 61.2/150.3 MiB, 0m20s
    booting test_swap (tcg): 0m14s/~0m31s
"""

import enum
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

TTY_INTERVAL = 2.0  # seconds between redraws on a terminal
PLAIN_INTERVAL = 30.0  # seconds between lines elsewhere
MIB = 1 << 20


class Unit(enum.Enum):
    OBJECTS = "objects"  # counted; shown as "N/~M objects, elapsed"
    BYTES = "bytes"  # counted; shown as "N/M MiB, elapsed"
    SECONDS = "seconds"  # nothing counted: elapsed against the expected seconds


def minutes(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 60}m{whole % 60:02d}s"


def mebibytes(count: float) -> str:
    return f"{count / MIB:.1f}"


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


@dataclass
class Progress:
    what: str  # e.g. "building page-owner[page_owner=y]"
    unit: Unit
    expected: float | None = None  # the total, None when unknown
    estimate: bool = True  # the total is last time's (shown "~N"), not known exactly
    stream: TextIO | None = None  # None: sys.stdout as it is now (pytest's capture under pytest)
    clock: Callable[[], float] = time.monotonic
    done: float = 0  # objects or bytes so far
    tty: bool = field(init=False)
    started: float = field(init=False)
    shown: bool = field(init=False, default=False)  # a line was printed: the end prints one too
    finished: bool = field(init=False, default=False)
    _last: float = field(init=False)
    _width: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        if self.stream is None:
            self.stream = sys.stdout
        self.tty = _is_tty(self.stream)
        self.started = self._last = self.clock()

    @property
    def interval(self) -> float:
        return TTY_INTERVAL if self.tty else PLAIN_INTERVAL

    @property
    def elapsed(self) -> float:
        return self.clock() - self.started

    def advance(self, count: float = 1) -> None:
        self.done += count
        self.tick()

    def update(self, done: float) -> None:
        """Set the count (e.g. a growing file's size)."""
        self.done = done
        self.tick()

    def tick(self) -> None:
        """Print the line if it is due (call as often as convenient)."""
        now = self.clock()
        if not self.finished and now - self._last >= self.interval:
            self._last = now
            self._write(self.status(), final=False)

    def finish(self) -> None:
        """The final line, if the phase was long enough to show one (once)."""
        if self.shown and not self.finished:
            self._write(self.status(), final=True)
        self.finished = True

    def status(self) -> str:
        elapsed = minutes(self.elapsed)
        approx = "~" if self.estimate else ""
        if self.unit is Unit.SECONDS:
            total = f"/{approx}{minutes(self.expected)}" if self.expected else ""
            return f"  {self.what}: {elapsed}{total}"
        if self.unit is Unit.BYTES:
            total = f"/{approx}{mebibytes(self.expected)}" if self.expected else ""
            return f"  {self.what}: {mebibytes(self.done)}{total} MiB, {elapsed}"
        total = f"/{approx}{int(self.expected)}" if self.expected else ""
        return f"  {self.what}: {int(self.done)}{total} {self.unit.value}, {elapsed}"

    def _write(self, text: str, final: bool) -> None:
        assert self.stream is not None
        self.shown = True
        if self.tty:
            padded = text.ljust(self._width)  # blank what a longer line left
            self._width = len(text)
            self.stream.write("\r" + padded + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.finish()
