"""Guest workloads as named steps, each ending in a snapshot of what the tests assert on.

The main one is the page_owner cover letter's tmpfs swap round trip:
`dd` fills /tmpfs, `DD` (a symlink to dd) fills the noswap /tmpfs-noswap until
dd's pages have left memory, then the noswap file is removed and `cat` reads
dd's file back in from swap.
"""

import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from harness.errors import HarnessError
from harness.results.parse import aggregate, owner_stacks, procfs
from harness.results.parse.records import MIB, PAGE_SIZE
from harness.results.tables import round_trip_table
from harness.run.debugfs import (  # workloads.PAGE_OWNER etc.: tests/kernel
    PAGE_OWNER, SHOW_STACKS, SWAP_PAGE_OWNER, SWAP_PAGE_OWNER_LOST, SWAP_PAGE_OWNER_MISMATCHED,
)
from harness.run.guest_command import GuestShell
from harness.run.snapshot import READER, keep, read_page_owner, summarise_dump

# What dd writes. Linux 7.3 keeps zero-filled pages out of swap I/O and zswap
# (swpout_zero: only a bit in the swap table), so the cover letter's
# /dev/zero tests that path; "pattern" (non-zero, compressible) makes every
# page go through zswap or a real write to the swap disk and a read back.
DATA_SOURCES = {
    "zero": "exec dd if=/dev/zero of=\"$1\" bs=1M count=\"$2\" status=none",
    "pattern": "yes mmharness-page | dd of=\"$1\" bs=1M count=\"$2\" iflag=fullblock status=none",
}
PAGES_PER_MIB = MIB // PAGE_SIZE


@dataclass(frozen=True)
class RoundTripConfig:
    file_mib: int = 256
    data: str = "zero"  # a DATA_SOURCES key
    tmpfs_size: str = "1G"
    swap_device: str = "/dev/vdb"
    chunk_mib: int = 32  # DD writes in chunks (smaller as it gets close) until dd's file is out of memory
    resident_target: float = 0.02  # ... i.e. less than this fraction of it is resident
    reserve_mib: int = 12  # DD pins at most MemAvailable at start - this (no OOM kills)
    command_timeout: float = 600.0


@dataclass
class OwnerView:
    """page_owner or swap_page_owner, aggregated: MiB in total and by comm."""

    available: bool
    error: str = ""
    total_mib: float = 0.0
    by_comm: dict[str, float] = field(default_factory=dict)
    swapped_mib: float = 0.0  # page_owner records marked " (swapped)"
    seconds: float = 0.0
    dump: str = ""  # where the raw text was kept

    def comm(self, name: str) -> float:
        return self.by_comm.get(name, 0.0)


@dataclass
class Snapshot:
    step: str
    free: procfs.FreeOutput
    meminfo: dict[str, int]
    vmstat: dict[str, int]
    resident_mib: float  # of dd's file in /tmpfs
    page_owner: OwnerView
    swap_page_owner: OwnerView
    stack_pages: dict  # page_owner_stacks/show_stacks: stack (tuple of frames) -> nr_base_pages
    swap_records_lost: int | None = None  # swap_page_owner_lost, when swap tracking is on
    pcp_free_pages: int = 0  # free, but on the per-cpu lists: not in MemFree (/proc/zoneinfo)

    @property
    def swap_lost_mib(self) -> float:
        return (self.swap_records_lost or 0) / PAGES_PER_MIB

    @property
    def used_mib(self) -> int:
        """total - free, as the cover letter compares with page_owner's sum."""
        return self.free.total_minus_free

    @property
    def swap_used_mib(self) -> int:
        return self.free.swap["used"]

    @property
    def owner_gap_mib(self) -> float:
        """Memory in use that page_owner does not list: total - free - per-cpu free - page_owner."""
        return self.used_mib - self.pcp_free_pages / PAGES_PER_MIB - self.page_owner.total_mib


def read_owner(shell: GuestShell, path: str, dump: Path) -> OwnerView:
    """Stream a debugfs owner file once: keep it gzipped and aggregate it on the way."""
    # One large read: page_owner fails a read too small for a whole record with ENOMEM.
    probe = shell.run([READER, f"if={path}", "of=/dev/null", "bs=64k", "count=1", "status=none"], timeout=60)
    if probe.status != 0:
        return OwnerView(available=False, error=probe.stderr.strip())
    started = time.monotonic()
    # Records with stack handles when the kernel can (harness.run.snapshot): page_owner on 7.3,
    # swap_page_owner from the series' v2 on; full text otherwise. gzip in the guest holds its
    # output until it has a block: on the debug kernel (KASAN, lockdep) 256 MiB of
    # swap_page_owner sent nothing for over 60 s, hence 600 s per wait.
    summary = read_page_owner(shell, dump=dump, dimensions=("comm", "swapped"), path=path,
                              timeout=600).summary
    return OwnerView(
        available=True,
        total_mib=summary.total_mib,
        by_comm={str(comm): mib for comm, mib in summary.mib("comm").items()},
        swapped_mib=summary.mib("swapped").get(True, 0.0),
        seconds=time.monotonic() - started,
        dump=str(dump),
    )


def resident_mib(shell: GuestShell, path: str) -> float:
    """How much of a file is in memory (0 if it does not exist yet)."""
    out = shell.check(["sh", "-c", 'test ! -e "$1" || fincore --bytes --noheadings --output RES "$1"',
                       "resident", path], timeout=300)
    return int(out.stdout.split()[0]) / 2**20 if out.stdout.strip() else 0.0


def snapshot(shell: GuestShell, step: str, out_dir: Path, config: RoundTripConfig) -> Snapshot:
    free = procfs.parse_free(shell.check(["free", "-m"]).stdout)
    meminfo = procfs.parse_meminfo(shell.check(["cat", "/proc/meminfo"]).stdout)
    vmstat = procfs.parse_vmstat(shell.check(["cat", "/proc/vmstat"]).stdout)
    zoneinfo = shell.check(["cat", "/proc/zoneinfo"]).stdout
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"zoneinfo-{step}.txt").write_text(zoneinfo)
    owner = read_owner(shell, PAGE_OWNER, out_dir / f"page_owner-{step}.txt.gz")
    swap_owner = read_owner(shell, SWAP_PAGE_OWNER, out_dir / f"swap_page_owner-{step}.txt.gz")
    stacks = read_stacks(shell, out_dir / f"show_stacks-{step}.txt.gz")
    lost = shell.run(["cat", SWAP_PAGE_OWNER_LOST])
    return Snapshot(step, free, meminfo, vmstat, resident_mib(shell, "/tmpfs/file"), owner, swap_owner, stacks,
                    int(lost.stdout) if lost.status == 0 else None, procfs.pcp_free_pages(zoneinfo))


def read_stacks(shell: GuestShell, dump: Path) -> dict:
    if shell.run(["test", "-r", SHOW_STACKS]).status != 0:
        return {}
    return owner_stacks.pages_by_stack(owner_stacks.iter_stack_records(keep(shell.stream_lines(SHOW_STACKS), dump)))


def stacks_of(dump: str, comm: str) -> dict:
    """Pages by allocation stack of one comm, from a kept page_owner dump (joined if in handle mode)."""
    summary = summarise_dump(dump, dimensions=("stack",), where=aggregate.select(comms=[comm]))
    return summary.pages("stack")


def fill_file(shell: GuestShell, config: RoundTripConfig, path: str = "/tmpfs/file") -> None:
    """dd writes config.file_mib MiB of config.data into `path` (dd owns the pages)."""
    if config.data not in DATA_SOURCES:
        raise HarnessError(f"unknown round-trip data source {config.data!r}",
                           hint=f"use one of {', '.join(DATA_SOURCES)}")
    shell.check(["sh", "-c", DATA_SOURCES[config.data], "fill", path, str(config.file_mib)],
                timeout=config.command_timeout)


# khugepaged collapses a workload's order-0 pages into a THP of its own allocation (page_owner
# then names khugepaged, rightly): 80 MiB of perl's 256 MiB in one debug-kernel run. The round
# trips follow owners across swap, so khugepaged sleeps (an hour between scans) while they run.
KHUGEPAGED_SLEEP = "/sys/kernel/mm/transparent_hugepage/khugepaged/scan_sleep_millisecs"


def prepare_round_trip(shell: GuestShell, config: RoundTripConfig) -> None:
    device = shlex.quote(config.swap_device)
    size = shlex.quote(config.tmpfs_size)
    script = f"""
        set -e
        grep -q '^{config.swap_device} ' /proc/swaps || {{ mkswap -q {device}; swapon {device}; }}
        mkdir -p /tmpfs /tmpfs-noswap
        mountpoint -q /tmpfs || mount -t tmpfs -o size={size} none /tmpfs
        mountpoint -q /tmpfs-noswap || mount -t tmpfs -o size={size},noswap none /tmpfs-noswap
        ln -sf "$(command -v dd)" /usr/local/bin/DD
        rm -f /tmpfs/file /tmpfs-noswap/file
        [ ! -w {KHUGEPAGED_SLEEP} ] || echo 3600000 > {KHUGEPAGED_SLEEP}
    """
    shell.check(["sh", "-c", script], timeout=120)


def shm_resident_mib(shell: GuestShell, shmid: int) -> float:
    """How much of a SysV shm segment is in memory (/proc/sysvipc/shm's rss column)."""
    rows = shell.check(["cat", "/proc/sysvipc/shm"]).stdout.splitlines()
    header = rows[0].split()
    for row in rows[1:]:
        fields = dict(zip(header, row.split()))
        if fields.get("shmid") == str(shmid):
            return int(fields["rss"]) / 2**20
    raise HarnessError(f"SysV shm segment {shmid} is not in /proc/sysvipc/shm",
                       hint="did the writer create it (CONFIG_SYSVIPC=y)?")


def anon_resident_mib(shell: GuestShell, pid: int) -> float:
    """How much anonymous memory of a process is in memory (RssAnon of /proc/PID/status)."""
    status = shell.check(["cat", f"/proc/{pid}/status"]).stdout
    kib = next((line.split()[1] for line in status.splitlines() if line.startswith("RssAnon:")), None)
    if kib is None:
        raise HarnessError(f"/proc/{pid}/status has no RssAnon line")
    return int(kib) / 1024


def push_out(shell: GuestShell, config: RoundTripConfig, room_mib: int,
             resident: Callable[[], float] | None = None) -> int:
    """DD fills the noswap tmpfs in chunks until the workload's memory is (nearly) all in swap.

    Sized by measurement, not from MemTotal alone: how much DD must pin
    depends on the kernel and guest. `room_mib` is MemAvailable before the
    workload ran: noswap pages beyond it could only be had by killing
    something. `resident` says how many MiB of the workload's memory are
    still in memory (default: dd's file in /tmpfs). Returns the MiB written by DD.
    """
    if resident is None:
        def resident() -> float:
            return resident_mib(shell, "/tmpfs/file")
    written = 0
    limit = room_mib - config.reserve_mib
    target = config.file_mib * config.resident_target
    while True:
        left = resident()
        # Big steps while much is in memory, small ones near the end.
        chunk = int(max(2, min(config.chunk_mib, (left - target) / 2)))
        chunk = min(chunk, limit - written)  # the last step fills what room is left, not more
        if left <= target or chunk < 1:
            return written
        shell.check(["DD", "if=/dev/zero", "of=/tmpfs-noswap/file", "status=none", "bs=1M",
                     f"count={chunk}", f"seek={written}", "conv=notrunc"],
                    timeout=config.command_timeout)
        written += chunk


@dataclass
class RoundTrip:
    snapshots: list[Snapshot]
    dd_pushed_mib: int
    seconds: float
    workload_seconds: float = 0.0  # dd, DD and cat alone, without the snapshots

    def at(self, step: str) -> Snapshot:
        return next(s for s in self.snapshots if s.step == step)


def round_trip(shell: GuestShell, out_dir: Path, config: RoundTripConfig = RoundTripConfig()) -> RoundTrip:
    """The cover letter's scenario; snapshots after setup, dd, DD and cat."""
    started = time.monotonic()
    out_dir.mkdir(parents=True, exist_ok=True)
    prepare_round_trip(shell, config)
    snapshots = [snapshot(shell, "start", out_dir, config)]
    work = time.monotonic()
    fill_file(shell, config)
    work = time.monotonic() - work
    snapshots.append(snapshot(shell, "dd", out_dir, config))
    step = time.monotonic()
    pushed = push_out(shell, config, room_mib=snapshots[0].meminfo["MemAvailable"] // 1024)
    work += time.monotonic() - step
    snapshots.append(snapshot(shell, "DD", out_dir, config))
    step = time.monotonic()
    shell.check(["rm", "/tmpfs-noswap/file"])
    shell.check(["sh", "-c", "cat /tmpfs/file > /dev/null"], timeout=config.command_timeout)
    work += time.monotonic() - step
    snapshots.append(snapshot(shell, "cat", out_dir, config))
    if snapshots[2].swap_used_mib == 0:
        raise HarnessError("the round trip pushed nothing to swap",
                           hint=f"check the swap device {config.swap_device} and the guest memory size")
    return RoundTrip(snapshots, pushed, time.monotonic() - started, work)


table = round_trip_table  # the name tests/kernel and the benchmarks use
