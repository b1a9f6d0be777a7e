"""page_owner snapshot: full text vs handle mode (harness.run.snapshot), same guest, same state.

One VM of the upstream-7.3 kernel with page_owner=on, in the round trip's
after-dd state (256 MiB of dd's pages in /tmpfs); the modes alternate, RUNS
times each, nothing else running. A snapshot's time is end to end: guest
read, SSH, parse and join on the host. Besides the harness's two modes, the
plain way is timed too: `cat /sys/kernel/debug/page_owner` over SSH, parsed
on the host (what the harness did before it buffered and compressed reads).
"""

from __future__ import annotations

import time
from typing import Iterator

from harness.bench import lab
from harness.results.parse import aggregate
from harness.run import snapshot, workloads

RUNS = 2
MODES = ("plain cat", "text", "handle")


def plain_cat(shell) -> tuple[float, aggregate.Summary]:
    started = time.monotonic()
    summary = aggregate.summarise(shell.stream(["cat", "--", snapshot.PAGE_OWNER], timeout=300))
    return time.monotonic() - started, summary


def bench_snapshot() -> Iterator[str]:
    kut = lab.kernel("upstream-7.3")
    results = lab.results_dir("snapshot")
    config = workloads.RoundTripConfig()
    seconds: dict[str, list[float]] = {mode: [] for mode in MODES}
    with lab.booted(kut, lab.spec_for(kut, "page_owner=on"), "page_owner=on", results) as vm:
        shell = vm.shell()
        workloads.prepare_round_trip(shell, config)
        workloads.fill_file(shell, config)
        for run in range(RUNS):
            for mode in MODES:
                if mode == "plain cat":
                    took, summary = plain_cat(shell)
                else:
                    snap = snapshot.read_page_owner(shell, mode, dump=vm.results_dir / f"page_owner-{mode}-{run}.txt.gz")
                    took, summary = snap.seconds, snap.summary
                seconds[mode].append(took)
                yield (f"  {mode:9} run {run}: {took:5.1f} s, {summary.total.records} records, "
                       f"{summary.total_mib:.1f} MiB")
    plain, text, handle = (lab.median(seconds[mode]) for mode in MODES)
    yield f"page_owner snapshot after dd {config.file_mib} MiB ({kut.label}, TCG, median of {RUNS}):"
    yield f"  plain cat over SSH (baseline) {plain:6.1f} s"
    yield f"  full text (harness)           {text:6.1f} s"
    yield f"  handle mode (harness)         {handle:6.1f} s"
    yield f"  ratio plain cat / handle {plain / handle:5.1f}, full text / handle {text / handle:5.1f}"
