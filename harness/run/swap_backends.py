"""Swap backends in the guest: set-up, counters and the static cost of swapon.

The ghost swap series is judged against what a user would pick instead for
swapping to memory (zram) or to a disk (a virtio-blk partition with zswap in
front of it). Every backend is set up and torn down by a shell snippet run
with the device as $1 and the advertised size in bytes as $2.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.results.parse import procfs
from harness.run.debugfs import ZSWAP
from harness.run.guest_command import GuestShell

GHOST_DEVICE = "/dev/ghostswap"
ZSWAP_DEBUGFS = ZSWAP
ZSWAP_ENABLED = "/sys/module/zswap/parameters/enabled"


@dataclass(frozen=True)
class Backend:
    name: str
    device: str
    zswap: bool  # zswap in front of the device
    setup: str
    teardown: str = 'swapoff "$1"'


BACKENDS = {
    "ghost": Backend("ghost swap + zswap", GHOST_DEVICE, zswap=True, setup='swapon "$1"'),
    "zram": Backend("zram (lzo)", "/dev/zram0", zswap=False,
                    setup='echo lzo > /sys/block/zram0/comp_algorithm && echo "$2" > /sys/block/zram0/disksize'
                          ' && mkswap -q "$1" && swapon "$1"',
                    teardown='swapoff "$1" && echo 1 > /sys/block/zram0/reset'),
    "disk": Backend("virtio-blk + zswap", "/dev/vdb", zswap=True, setup='swapon "$1"'),
}

# brd: a synchronous RAM disk of any size (brd.rd_size, KiB), pages allocated on write.
BRD = Backend("brd", "/dev/ram0", zswap=False, setup='mkswap -q "$1" && swapon "$1"')


def set_zswap(shell: GuestShell, enabled: bool) -> None:
    """Turn zswap on or off, writing the parameter only when it differs.

    Any write, even N, creates zswap's pool and so sets zswap_ever_enabled
    until reboot, which turns off mTHP swap-in (do_swap_page's
    thp_swapin_suitable_orders): a kernel that must never have had zswap
    is left alone."""
    want = "Y" if enabled else "N"
    if shell.check(["cat", ZSWAP_ENABLED]).stdout.strip() != want:
        shell.check(["sh", "-c", f'echo "$1" > {ZSWAP_ENABLED}', "set-zswap", want])


def swap_on(shell: GuestShell, backend: Backend, size_bytes: int = 0) -> None:
    set_zswap(shell, backend.zswap)
    shell.check(["sh", "-c", backend.setup, backend.name, backend.device, str(size_bytes)], timeout=120)


def swap_off(shell: GuestShell, backend: Backend, timeout: float = 600) -> None:
    shell.check(["sh", "-c", backend.teardown, backend.name, backend.device], timeout=timeout)


def swaps(shell: GuestShell) -> list[procfs.SwapDevice]:
    return procfs.parse_swaps(shell.check(["cat", "/proc/swaps"]).stdout)


def swap_of(shell: GuestShell, device: str) -> procfs.SwapDevice | None:
    return next((d for d in swaps(shell) if d.filename == device), None)


@dataclass(frozen=True)
class Counters:
    """What the kernel says about swap at one moment."""

    vmstat: dict[str, int]
    meminfo: dict[str, int]
    zswap: dict[str, int] = field(default_factory=dict)  # debugfs; empty without CONFIG_ZSWAP
    written_sectors: dict[str, int] = field(default_factory=dict)  # block devices -> sectors written
    zram_mm_stat: tuple[int, ...] = ()  # /sys/block/zram0/mm_stat when zram is set up

    def since(self, before: Counters, name: str) -> int:
        return self.vmstat.get(name, 0) - before.vmstat.get(name, 0)


def counters(shell: GuestShell) -> Counters:
    vmstat = procfs.parse_vmstat(shell.check(["cat", "/proc/vmstat"]).stdout)
    meminfo = procfs.parse_meminfo(shell.check(["cat", "/proc/meminfo"]).stdout)
    zswap_files = shell.run(["grep", "-r", ".", ZSWAP_DEBUGFS])
    zswap = procfs.int_values(procfs.parse_grep_output(zswap_files.stdout)) if zswap_files.ok else {}
    stats = shell.check(["sh", "-c", "grep -H . /sys/block/*/stat"]).stdout
    written = {path.split("/")[3]: procfs.parse_block_stat(text).write_sectors
               for path, text in procfs.parse_grep_output(stats).items()}
    mm_stat = shell.run(["cat", "/sys/block/zram0/mm_stat"])
    zram = tuple(int(word) for word in mm_stat.stdout.split()) if mm_stat.ok else ()
    return Counters(vmstat, meminfo, zswap, written, zram)


# Free memory, swapon, free memory, swapoff, in one guest command so that nothing
# else runs in between; each /proc/meminfo is framed by a marker line. Free pages
# on the per-cpu lists are not in MemFree: a swapoff that frees a large array
# fills them, and the next swapon takes its pages from there without MemFree
# moving (6.12: 235 of 813 MiB per TiB went unseen), so /proc/zoneinfo's
# per-cpu counts are added as PcpFree (x86_64: 4 KiB pages).
_STATIC_COST_SCRIPT = """
set -e
memory() {{
    echo "=== $1"; cat /proc/meminfo
    awk '$1 == "count:" {{ pages += $2 }} END {{ print "PcpFree: " pages * 4 " kB" }}' /proc/zoneinfo
}}
for round in $(seq {repeats}); do
    memory before; {setup}; memory after; {teardown}
done
"""


@dataclass(frozen=True)
class StaticCost:
    """What one swapon took before anything was swapped out, in KiB of each /proc/meminfo field."""

    free_kib: int  # all of it: MemFree plus the free pages on the per-cpu lists
    vmalloc_kib: int  # VmallocUsed: kvmalloc'ed arrays (swap_map, swap cgroup ids, cluster info)
    percpu_kib: int


def _free_kib(meminfo: dict[str, int]) -> int:
    return meminfo["MemFree"] + meminfo.get("PcpFree", 0)  # recordings from before PcpFree lack it


def static_costs(shell: GuestShell, backend: Backend, size_bytes: int = 0, repeats: int = 3) -> list[StaticCost]:
    """The static cost of swapon of `backend`, per round."""
    script = _STATIC_COST_SCRIPT.format(repeats=int(repeats), setup=backend.setup, teardown=backend.teardown)
    set_zswap(shell, backend.zswap)
    out = shell.check(["sh", "-c", script, backend.name, backend.device, str(size_bytes)], timeout=600).stdout
    memory: dict[str, list[dict[str, int]]] = {"before": [], "after": []}
    for block in out.split("=== ")[1:]:
        step, _, text = block.partition("\n")
        memory[step].append(procfs.parse_meminfo(text))
    return [StaticCost(_free_kib(before) - _free_kib(after), after["VmallocUsed"] - before["VmallocUsed"],
                       after["Percpu"] - before["Percpu"])
            for before, after in zip(memory["before"], memory["after"])]


def static_cost_kib(shell: GuestShell, backend: Backend, size_bytes: int = 0, repeats: int = 3) -> list[int]:
    """KiB of free memory that swapon of `backend` takes before anything is swapped out, per round."""
    return [cost.free_kib for cost in static_costs(shell, backend, size_bytes, repeats)]


def checksum(shell: GuestShell, *paths: str) -> dict[str, str]:
    out = shell.check(["sha256sum", *paths], timeout=900).stdout
    return {path: digest for digest, path in (line.split() for line in out.splitlines())}
