"""The cover letter's round trip with and without swap tracking: wall time and memory.

Baseline: `page_owner=on` on the same patched kernel, measured in the same run.
Memory: growth of slab (meminfo Slab: the swap_page_owner records are in
their own unreclaimable cache, the xarray nodes in the reclaimable
radix_tree_node cache) between the start and the moment dd's file is in
swap, with `,swap` minus without, per GiB in swap. The guest's SLUB_TINY has
no /proc/slabinfo, so the kernel's meminfo is the accounting used; the
expected figure (40-byte records plus one 576-byte xa_node per 64
consecutive entries) is printed beside it.
"""

from typing import Iterator

from harness.bench import lab
from harness.run import workloads

YY = "page-owner[page_owner=y,swap_page_owner=y]"
PAGES_PER_GIB = 262144
EXPECTED_MIB_PER_GIB = PAGES_PER_GIB * (40 + 576 / 64) / 2**20


BASE, TRACKED = "page_owner=on", "page_owner=on,swap"
RUNS = 3  # per command line, alternating, each on a fresh boot: one round trip varies by 2x under TCG


def slab_growth_kib(trip: workloads.RoundTrip) -> int:
    return trip.at("DD").meminfo["Slab"] - trip.at("start").meminfo["Slab"]


def bench_round_trip() -> Iterator[str]:
    kut = lab.kernel("default", YY)
    results = lab.results_dir("round-trip")
    trips: dict[str, list[workloads.RoundTrip]] = {BASE: [], TRACKED: []}
    for run in range(RUNS):
        for cmdline in (BASE, TRACKED):
            with lab.booted(kut, lab.spec_for(kut, cmdline), f"{cmdline}-{run}", results) as vm:
                trip = workloads.round_trip(vm.shell(), vm.results_dir / "round-trip")
            trips[cmdline].append(trip)
            yield (f"  {cmdline:19} run {run}: {trip.seconds:5.1f} s, dd/DD/cat {trip.workload_seconds:5.1f} s, "
                   f"slab +{slab_growth_kib(trip)} KiB, {trip.at('DD').swap_used_mib} MiB in swap")

    def median(cmdline: str, value) -> float:
        return lab.median([value(trip) for trip in trips[cmdline]])

    wall = {cmdline: median(cmdline, lambda t: t.seconds) for cmdline in trips}
    work = {cmdline: median(cmdline, lambda t: t.workload_seconds) for cmdline in trips}
    growth = {cmdline: median(cmdline, slab_growth_kib) for cmdline in trips}
    swapped_gib = median(TRACKED, lambda t: t.at("DD").swap_used_mib) / 1024
    per_gib = (growth[TRACKED] - growth[BASE]) / 1024 / swapped_gib if swapped_gib else float("nan")
    yield from [
        f"round trip (dd 256 MiB, DD, cat) on {kut.label}, TCG, median of {RUNS}:",
        f"  {BASE} (baseline)        {wall[BASE]:7.1f} s   dd, DD and cat alone {work[BASE]:6.1f} s",
        f"  {TRACKED}               {wall[TRACKED]:7.1f} s   dd, DD and cat alone {work[TRACKED]:6.1f} s",
        f"  ratio swap / baseline           {wall[TRACKED] / wall[BASE]:7.2f}     "
        f"{work[TRACKED] / work[BASE]:6.2f}",
        f"  slab growth while in swap: {growth[BASE]:.0f} KiB without, {growth[TRACKED]:.0f} KiB with swap tracking",
        f"  swap_page_owner overhead: {per_gib:.1f} MiB per GiB swapped (expected {EXPECTED_MIB_PER_GIB:.1f})",
        "",
        workloads.table({cmdline: runs[-1] for cmdline, runs in trips.items()}),
    ]
