"""page_owner and swap_page_owner snapshots: full text vs handle mode (harness.run.snapshot), same guest, same state.

One VM of the upstream-7.3 kernel with page_owner=on, in the round trip's
after-dd state (256 MiB of dd's pages in /tmpfs); the modes alternate, RUNS
times each, nothing else running. A snapshot's time is end to end: guest
read, SSH, parse and join on the host. Besides the harness's two modes, the
plain way is timed too: `cat /sys/kernel/debug/page_owner` over SSH, parsed
on the host (what the harness did before it buffered and compressed reads).

`swap_snapshot` does the same for the series' swap_page_owner (mode=handle
from its v2 on), on the patched y/y kernel with page_owner=on,swap, once
dd's file is in swap space.
"""

from __future__ import annotations

import time
from typing import Iterator

from harness.bench import lab
from harness.results.parse import aggregate, procfs
from harness.run import snapshot, workloads

RUNS = 2
MODES = ("plain cat", "text", "handle")


def plain_cat(shell, path: str = snapshot.PAGE_OWNER) -> tuple[float, aggregate.Summary]:
    started = time.monotonic()
    summary = aggregate.summarise(shell.stream(["cat", "--", path], timeout=600))
    return time.monotonic() - started, summary


def timed_modes(shell, path: str, out, label: str) -> Iterator[tuple[str, float, aggregate.Summary]]:
    """(mode, seconds, summary) of each mode, RUNS times, alternating."""
    for run in range(RUNS):
        for mode in MODES:
            if mode == "plain cat":
                took, summary = plain_cat(shell, path)
            else:
                snap = snapshot.read_page_owner(shell, mode, path=path, dump=out / f"{label}-{mode}-{run}.txt.gz",
                                                timeout=600)
                took, summary = snap.seconds, snap.summary
            yield mode, took, summary


def report(what: str, kut, seconds: dict[str, list[float]]) -> Iterator[str]:
    plain, text, handle = (lab.median(seconds[mode]) for mode in MODES)
    yield f"{what} ({kut.label}, TCG, median of {RUNS}):"
    yield f"  plain cat over SSH (baseline) {plain:6.1f} s"
    yield f"  full text (harness)           {text:6.1f} s"
    yield f"  handle mode (harness)         {handle:6.1f} s"
    yield f"  ratio plain cat / handle {plain / handle:5.1f}, full text / handle {text / handle:5.1f}"


def compare_modes(kut, cmdline: str, path: str, what: str, *, push_out: bool) -> Iterator[str]:
    """Boot `kut` with `cmdline`, run dd (and DD when `push_out`), time every mode of reading `path`."""
    config = workloads.RoundTripConfig()
    label = path.rsplit("/", 1)[-1]
    seconds: dict[str, list[float]] = {mode: [] for mode in MODES}
    with lab.booted(kut, lab.spec_for(kut, cmdline), cmdline, lab.results_dir(label.replace("_", "-"))) as vm:
        shell = vm.shell()
        workloads.prepare_round_trip(shell, config)
        room = procfs.parse_meminfo(shell.check(["cat", "/proc/meminfo"]).stdout)["MemAvailable"] // 1024
        workloads.fill_file(shell, config)
        if push_out:
            workloads.push_out(shell, config, room_mib=room)
        for mode, took, summary in timed_modes(shell, path, vm.results_dir, label):
            seconds[mode].append(took)
            yield f"  {mode:9}: {took:5.1f} s, {summary.total.records} records, {summary.total_mib:.1f} MiB"
    yield from report(what.format(mib=config.file_mib), kut, seconds)


def bench_snapshot() -> Iterator[str]:
    yield from compare_modes(lab.kernel("upstream-7.3"), "page_owner=on", snapshot.PAGE_OWNER,
                             "page_owner snapshot after dd {mib} MiB", push_out=False)


def bench_swap_snapshot() -> Iterator[str]:
    yield from compare_modes(lab.kernel("default", "page-owner[page_owner=y,swap_page_owner=y]"),
                             "page_owner=on,swap", workloads.SWAP_PAGE_OWNER,
                             "swap_page_owner snapshot, dd's {mib} MiB in swap", push_out=True)
