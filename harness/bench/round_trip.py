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

from harness import workloads
from harness.bench import lab

YY = "page-owner[page_owner=y,swap_page_owner=y]"
PAGES_PER_GIB = 262144
EXPECTED_MIB_PER_GIB = PAGES_PER_GIB * (40 + 576 / 64) / 2**20


def bench_round_trip() -> list[str]:
    kut = lab.kernel("default", YY)
    results = lab.results_dir("round-trip")
    trips: dict[str, workloads.RoundTrip] = {}
    for cmdline in ("page_owner=on", "page_owner=on,swap"):
        with lab.booted(kut, lab.spec_for(kut, cmdline), cmdline, results) as vm:
            trips[cmdline] = workloads.round_trip(vm.shell(), vm.results_dir / "round-trip")
    base, tracked = trips["page_owner=on"], trips["page_owner=on,swap"]

    def slab_growth_kib(trip: workloads.RoundTrip) -> int:
        return trip.at("DD").meminfo["Slab"] - trip.at("start").meminfo["Slab"]

    swapped_gib = tracked.at("DD").swap_used_mib / 1024
    extra_kib = slab_growth_kib(tracked) - slab_growth_kib(base)
    per_gib = extra_kib / 1024 / swapped_gib if swapped_gib else float("nan")
    return [
        f"round trip (dd 256 MiB, DD, cat) on {kut.label}, TCG:",
        f"  page_owner=on (baseline)   {base.seconds:7.1f} s",
        f"  page_owner=on,swap         {tracked.seconds:7.1f} s",
        f"  ratio swap / baseline      {tracked.seconds / base.seconds:7.2f}",
        f"  dd, DD and cat alone (no snapshots): {base.workload_seconds:.1f} s vs "
        f"{tracked.workload_seconds:.1f} s, ratio {tracked.workload_seconds / base.workload_seconds:.2f}",
        f"  slab growth while in swap: {slab_growth_kib(base)} KiB without, "
        f"{slab_growth_kib(tracked)} KiB with swap tracking",
        f"  swap_page_owner overhead: {per_gib:.1f} MiB per GiB swapped "
        f"({tracked.at('DD').swap_used_mib} MiB in swap; expected {EXPECTED_MIB_PER_GIB:.1f})",
        "",
        workloads.table(trips),
    ]
