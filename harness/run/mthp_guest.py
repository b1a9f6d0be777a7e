"""Reading a guest step by step for the mTHP tests: counters, owner dumps and pagemaps, each kept.

`Guest(shell, out_dir)` reads the 64 KiB stats, /proc/vmstat and /proc/meminfo
(`counters`), page_owner by PFN and swap_page_owner (`page_owner`,
`swap_page_owner`: the dumps are kept gzipped in out_dir under the step's
name) and a holder's pagemap; `note` keeps what a test observed in
observations.json before it asserts anything.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from harness.results import subpage_owners as owners
from harness.results.parse import procfs
from harness.run import mthp_holder, mthp, workloads
from harness.run.debugfs import PAGE_OWNER, SWAP_PAGE_OWNER
from harness.run.guest_command import GuestShell


def swap_on(shell: GuestShell, device: str) -> None:
    """Swap on `device` alone."""
    script = """
        for other in $(awk 'NR > 1 { print $1 }' /proc/swaps); do [ "$other" = "$1" ] || swapoff "$other"; done
        grep -q "^$1 " /proc/swaps || { mkswap -q "$1" && swapon "$1"; }
    """
    shell.check(["sh", "-c", script, "swap-on", device], timeout=120)


@dataclass
class Counters:
    stats: mthp.Stats
    vmstat: dict
    meminfo: dict

    @property
    def swap_used_pages(self) -> int:
        return (self.meminfo["SwapTotal"] - self.meminfo["SwapFree"]) // 4

    def since(self, earlier: "Counters") -> dict:
        """What grew: the 64 KiB stats (folios) and the vmstat swap counters (pages)."""
        grown = {f"64kB/{k}": v for k, v in self.stats.since(earlier.stats).counters.items() if v}
        grown |= {k: self.vmstat.get(k, 0) - earlier.vmstat.get(k, 0) for k in
                  ("pswpin", "pswpout", "swpin_zero", "swpout_zero", "thp_split_page", "pgmajfault")}
        return grown


class Guest:
    """Reads of one test's guest, each kept in its results directory under the step's name."""

    def __init__(self, shell: GuestShell, out_dir: Path):
        self.shell, self.out_dir = shell, out_dir
        self.seen: dict = {}

    def counters(self, step: str) -> Counters:
        stats = mthp.read_stats(self.shell, 64, keep=self.out_dir / f"stats-64kB-{step}.txt")
        vmstat = procfs.parse_vmstat(self.shell.check(["cat", "/proc/vmstat"]).stdout)
        meminfo = procfs.parse_meminfo(self.shell.check(["cat", "/proc/meminfo"]).stdout)
        return Counters(stats, vmstat, meminfo)

    def page_owner(self, step: str):
        dump = self.out_dir / f"page_owner-{step}.txt.gz"
        workloads.read_owner(self.shell, PAGE_OWNER, dump)
        return owners.page_owner_records(dump)

    def swap_page_owner(self, step: str):
        dump = self.out_dir / f"swap_page_owner-{step}.txt.gz"
        workloads.read_owner(self.shell, SWAP_PAGE_OWNER, dump)
        return owners.swap_page_owner_records(dump)

    def pagemap(self, holder, step: str):
        return mthp_holder.pagemap(self.shell, holder, keep=self.out_dir / f"pagemap-{step}.txt")

    def note(self, **values) -> None:
        """Keep what was observed (observations.json), before anything is asserted on it."""
        self.seen.update(values)
        (self.out_dir / "observations.json").write_text(json.dumps(self.seen, indent=1, default=str))


def swap_cached_mib(shell: GuestShell) -> float:
    return procfs.parse_meminfo(shell.check(["cat", "/proc/meminfo"]).stdout)["SwapCached"] / 1024


def view(comparison: owners.Comparison) -> dict:
    return {"checked": comparison.checked, "found": dict(comparison.found), "orders": dict(comparison.orders),
            "swapped": comparison.swapped, "mismatches": len(comparison.mismatches)}


def stack_pages(shell: GuestShell, out_dir: Path, step: str) -> dict:
    return workloads.read_stacks(shell, out_dir / f"show_stacks-{step}.txt.gz")


def dd_orders(records: dict, comm: str = "dd") -> Counter:
    """Pages by folio order of one comm's page_owner records; swapped pages under key 'swapped'."""
    found: Counter = Counter()
    for record in records.values():
        if record.comm == comm:
            found[record.order] += record.pages
            found["swapped"] += record.pages if record.swapped else 0
    return found
