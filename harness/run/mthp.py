"""Multi-size THP (mTHP) in the guest: the sysfs policy knobs and the per-size counters.

Linux 7.3, Documentation/admin-guide/mm/transhuge.rst:
/sys/kernel/mm/transparent_hugepage/hugepages-<size>kB/{enabled,shmem_enabled}
choose the policy per folio size (anonymous memory; the internal shmem mount
of SysV shm, memfd and shared anonymous mappings; tmpfs mounts follow their
`huge=` option instead), and hugepages-<size>kB/stats/ counts per size:
swpout (written to a non-zswap swap device in one piece), swpout_fallback
(split before swap-out), swpin (read in one piece from a non-zswap device),
swpin_fallback, zswpout, anon_fault_alloc, shmem_alloc, split, ... Every
counter is a count of folios of that size, not of pages.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.results.parse import procfs
from harness.run.guest_command import GuestShell

THP = "/sys/kernel/mm/transparent_hugepage"
ANON_POLICIES = ("always", "madvise", "never", "inherit")
SHMEM_POLICIES = ("always", "within_size", "advise", "never", "inherit")


def size_dir(size_kb: int) -> str:
    return f"{THP}/hugepages-{size_kb}kB"


def pages_of(size_kb: int) -> int:
    """Base pages in one folio of this size (16 for 64 KiB)."""
    return size_kb // 4


@dataclass(frozen=True)
class Stats:
    """hugepages-<size>kB/stats at one moment: counter name -> folios."""

    size_kb: int
    counters: dict[str, int]

    def __getitem__(self, name: str) -> int:
        if name not in self.counters:
            raise HarnessError(f"hugepages-{self.size_kb}kB/stats has no counter {name!r}",
                               hint=f"this kernel has: {', '.join(sorted(self.counters))}")
        return self.counters[name]

    def since(self, earlier: "Stats") -> "Stats":
        """The counters' growth since `earlier` (same size)."""
        if earlier.size_kb != self.size_kb:
            raise HarnessError(f"cannot compare the stats of {self.size_kb} kB with those of {earlier.size_kb} kB")
        return Stats(self.size_kb, {name: value - earlier.counters.get(name, 0)
                                    for name, value in self.counters.items()})

    def pages(self, name: str) -> int:
        """Base pages moved by the folios a counter counts."""
        return self[name] * pages_of(self.size_kb)


def parse_stats(size_kb: int, text: str) -> Stats:
    """The output of `grep -r . hugepages-<size>kB/stats` (lines `.../stats/NAME:VALUE`)."""
    counters = procfs.parse_mthp_stats(procfs.parse_grep_output(text)).get(size_kb)
    if not counters:
        raise HarnessError(f"no hugepages-{size_kb}kB/stats counters in {text[:200]!r}",
                           hint="is CONFIG_TRANSPARENT_HUGEPAGE=y, and does this kernel offer that size?")
    return Stats(size_kb, counters)


def read_stats(shell: GuestShell, size_kb: int = 64, keep: Path | None = None) -> Stats:
    """The counters now; `keep` saves the raw text."""
    out = shell.check(["grep", "-r", ".", f"{size_dir(size_kb)}/stats"])
    if keep is not None:
        keep.write_text(out.stdout)
    return parse_stats(size_kb, out.stdout)


def mount_tmpfs(shell: GuestShell, path: str, huge: str, size: str = "256M") -> None:
    """A tmpfs at `path` with `huge=` (tmpfs mounts ignore the per-size shmem_enabled knobs)."""
    _check(huge, ("always", "within_size", "advise"), f"tmpfs huge= of {path}")
    shell.check(["sh", "-c", 'mkdir -p "$1" && { mountpoint -q "$1" || mount -t tmpfs -o "size=$2,huge=$3" none "$1"; }'
                 ' && grep " $1 " /proc/mounts | grep -q "huge=$3"', "mount-tmpfs", path, size, huge])


def sizes(shell: GuestShell) -> list[int]:
    """The folio sizes (kB) this kernel offers, smallest first."""
    out = shell.check(["sh", "-c", f'cd {THP} && ls -d hugepages-*kB'])
    return sorted(int(name[len("hugepages-"):-len("kB")]) for name in out.stdout.split())


@dataclass(frozen=True)
class Policy:
    """What to write to each size's knobs: {size_kb: value}; sizes not named are set to `others`."""

    anon: dict[int, str]
    shmem: dict[int, str]
    others: str = "never"


def _check(value: str, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise HarnessError(f"{what}: {value!r} is not a policy", hint=f"use one of {', '.join(allowed)}")


def apply(shell: GuestShell, policy: Policy) -> dict[str, str]:
    """Write every size's enabled and shmem_enabled; return what the kernel then reads back."""
    writes: list[tuple[str, str, str]] = []  # path, value, "1" if the policy names the size
    for size in sizes(shell):
        anon = policy.anon.get(size, policy.others)
        shmem = policy.shmem.get(size, policy.others)
        _check(anon, ANON_POLICIES, f"hugepages-{size}kB/enabled")
        _check(shmem, SHMEM_POLICIES, f"hugepages-{size}kB/shmem_enabled")
        writes += [(f"{size_dir(size)}/enabled", anon, str(int(size in policy.anon))),
                   (f"{size_dir(size)}/shmem_enabled", shmem, str(int(size in policy.shmem)))]
    # Not every size takes both knobs (7.3: order 1, hugepages-8kB, is not offered to anonymous
    # memory and its enabled file refuses writes): a write may fail only for sizes the policy
    # does not name.
    script = 'while [ $# -gt 0 ]; do { echo "$2" > "$1"; } 2>/dev/null || [ "$3" = 0 ] || exit 1; shift 3; done'
    shell.check(["sh", "-c", script, "mthp-policy", *[part for triple in writes for part in triple]])
    chosen = read_policy(shell, [path for path, _, _ in writes])
    wanted = {f"{size_dir(s)}/enabled": v for s, v in policy.anon.items()}
    wanted |= {f"{size_dir(s)}/shmem_enabled": v for s, v in policy.shmem.items()}
    wrong = {path: (value, chosen.get(path)) for path, value in wanted.items() if chosen.get(path) != value}
    if wrong:
        raise HarnessError(f"mTHP policy not taken: {wrong} (path: (wanted, read back))",
                           hint="does this kernel offer that size (ls /sys/kernel/mm/transparent_hugepage)?")
    return chosen


def pause_khugepaged(shell: GuestShell, sleep_ms: int = 3_600_000) -> None:
    """Make khugepaged sleep between scans for `sleep_ms` (default an hour).

    With a size enabled, 7.3's khugepaged collapses runs of order-0 pages into folios of that
    size (hugepages-<size>kB/stats/collapse_alloc): a new folio, allocated by khugepaged, so
    page_owner names khugepaged, and the old pages are freed. A test that follows pages of a
    region by PFN cannot have them replaced under it."""
    shell.check(["sh", "-c", f'echo "$1" > {THP}/khugepaged/scan_sleep_millisecs', "khugepaged", str(sleep_ms)])


def read_policy(shell: GuestShell, paths: list[str]) -> dict[str, str]:
    """Each knob's selected value: the word in brackets of `always [never] ...`."""
    out = shell.check(["sh", "-c", 'for f in "$@"; do [ -r "$f" ] && grep -H . "$f"; done; true',
                       "read-policy", *paths]).stdout
    chosen = {}
    for line in out.splitlines():
        path, _, text = line.partition(":")
        inside = text.partition("[")[2].partition("]")[0]
        chosen[path] = inside
    return chosen
