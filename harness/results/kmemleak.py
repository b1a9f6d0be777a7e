"""kmemleak's report (/sys/kernel/debug/kmemleak): its leaks, typed, and a short summary.

Each leak reads (mm/kmemleak.c, __print_unreferenced):

    unreferenced object 0xffff888004a1c000 (size 64):
      comm "dd", pid 231, jiffies 4294901234
      hex dump (first 32 bytes):
        00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00  ................
      backtrace (crc 8f3b1c2a):
        kmemleak_alloc+0x4a/0x80
        __kmalloc_cache_noprof+0x2a5/0x3d0

(" (percpu)" or " (phys)" after "object" for those objects). Jiffies start at
INITIAL_JIFFIES, 2**32 - 300 * HZ, on 64-bit kernels: `split()` keeps apart
what was allocated before a given moment (the clear after boot,
harness.run.kmemleak).
"""

import re
from dataclasses import dataclass

_OBJECT = re.compile(r"^unreferenced object(?: \((?P<type>\w+)\))? 0x(?P<address>[0-9a-f]+) \(size (?P<size>\d+)\):$")
_COMM = re.compile(r'^\s+comm "(?P<comm>.*)", pid (?P<pid>-?\d+), jiffies (?P<jiffies>\d+)')
# The allocator and kmemleak's own frames, above the caller that leaked.
_ALLOCATOR = ("kmemleak_", "__kmalloc", "kmalloc_", "kmem_cache_alloc", "__kvmalloc", "kvmalloc",
              "slab_post_alloc_hook", "__alloc_pages", "alloc_pages", "__vmalloc", "vmalloc", "pcpu_alloc")


@dataclass(frozen=True)
class Leak:
    address: int
    size: int
    kind: str  # "" for a slab/vmalloc object, else "percpu" or "phys"
    comm: str
    pid: int
    jiffies: int  # when it was allocated
    backtrace: tuple[str, ...]  # symbolised frames, innermost first
    text: str  # the leak's lines as kmemleak printed them

    @property
    def first_caller(self) -> str:
        """The first frame that is not the allocator or kmemleak itself."""
        for frame in self.backtrace:
            if not frame.startswith(_ALLOCATOR):
                return frame
        return self.backtrace[0] if self.backtrace else "?"


@dataclass
class _Open:
    """A leak being read."""

    address: int
    size: int
    kind: str
    lines: list[str]
    comm: str = ""
    pid: int = -1
    jiffies: int = 0
    in_backtrace: bool = False
    backtrace: list[str] | None = None

    def leak(self) -> Leak:
        return Leak(self.address, self.size, self.kind, self.comm, self.pid, self.jiffies,
                    tuple(self.backtrace or ()), "\n".join(self.lines))

    def add(self, line: str) -> None:
        self.lines.append(line)
        stripped = line.strip()
        if match := _COMM.match(line):
            self.comm, self.pid, self.jiffies = match["comm"], int(match["pid"]), int(match["jiffies"])
        elif stripped.startswith("backtrace"):
            self.in_backtrace, self.backtrace = True, []
        elif stripped.startswith("hex dump"):
            self.in_backtrace = False
        elif self.in_backtrace and self.backtrace is not None:
            # "    f+0x1/0x2" (6.x, 7.x) or "    [<ffffffff81234567>] f+0x1/0x2" (older kernels)
            self.backtrace.append(re.sub(r"^\[<[0-9a-f]+>\]\s*", "", stripped))


def parse(text: str) -> list[Leak]:
    """Every leak in the text of /sys/kernel/debug/kmemleak (other lines are ignored)."""
    leaks: list[Leak] = []
    current: _Open | None = None
    for line in text.splitlines():
        line = line.rstrip()
        if match := _OBJECT.match(line):
            if current is not None:
                leaks.append(current.leak())
            current = _Open(int(match["address"], 16), int(match["size"]), match["type"] or "", [line])
        elif current is not None and line.strip():
            current.add(line)
    if current is not None:
        leaks.append(current.leak())
    return leaks


def summary(leaks: list[Leak], lines: int = 25) -> str:
    """A short text for a failure: the count, who leaked, and the report's first lines."""
    callers = sorted({f"{leak.first_caller} ({leak.comm})" for leak in leaks})
    text = "\n".join(leak.text for leak in leaks).splitlines()
    more = f"\n  ... {len(text) - lines} more lines" if len(text) > lines else ""
    return (f"kmemleak: {len(leaks)} leak(s) during the test, allocated in: {', '.join(callers[:5])}\n"
            + "\n".join(text[:lines]) + more)


def initial_jiffies(hz: int) -> int:
    """The jiffies of a 64-bit kernel at boot (INITIAL_JIFFIES)."""
    return 2**32 - 300 * hz


def split(leaks: list[Leak], since: int) -> tuple[list[Leak], list[Leak]]:
    """(leaks allocated from jiffies `since` on, leaks allocated before it)."""
    return [leak for leak in leaks if leak.jiffies >= since], [leak for leak in leaks if leak.jiffies < since]
