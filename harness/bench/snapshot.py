"""page_owner snapshot: full text vs handle mode (harness.snapshot), same guest, same state.

One VM of the upstream-7.3 kernel with page_owner=on, in the round trip's
after-dd state (256 MiB of dd's pages in /tmpfs); the two modes alternate,
RUNS times each, nothing else running. A snapshot's time is end to end:
probe, guest read, SSH, parse and join on the host.
"""

from __future__ import annotations

from typing import Iterator

from harness import snapshot, workloads
from harness.bench import lab

RUNS = 2


def bench_snapshot() -> Iterator[str]:
    kut = lab.kernel("upstream-7.3")
    results = lab.results_dir("snapshot")
    config = workloads.RoundTripConfig()
    seconds: dict[str, list[float]] = {"text": [], "handle": []}
    with lab.booted(kut, lab.spec_for(kut, "page_owner=on"), "page_owner=on", results) as vm:
        shell = vm.shell()
        workloads.prepare_round_trip(shell, config)
        workloads.fill_file(shell, config)
        for run in range(RUNS):
            for mode in ("text", "handle"):
                snap = snapshot.read_page_owner(shell, mode, dump=vm.results_dir / f"page_owner-{mode}-{run}.txt.gz")
                seconds[mode].append(snap.seconds)
                yield (f"  {mode:6} run {run}: {snap.seconds:5.1f} s, {snap.summary.total.records} records, "
                       f"{snap.summary.total_mib:.1f} MiB")
    text, handle = lab.median(seconds["text"]), lab.median(seconds["handle"])
    yield f"page_owner snapshot after dd {config.file_mib} MiB ({kut.label}, TCG, median of {RUNS}):"
    yield f"  full text    {text:6.1f} s"
    yield f"  handle mode  {handle:6.1f} s"
    yield f"  ratio text / handle {text / handle:5.1f}"
