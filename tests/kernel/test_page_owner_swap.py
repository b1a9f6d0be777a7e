"""The page_owner swap series on Linux 7.3, proven in the guest.

The cover letter's round trip, booted twice on the patched y/y kernel:
`page_owner=on` (Before: the owner is lost across swap) and
`page_owner=on,swap` (After: the owner is kept, swap_page_owner reports
pages while they are in swap, show_stacks keeps dd's count).
"""

import re

import pytest

from harness import workloads
from harness.errors import HarnessError

FILE_MIB = 256
PAGES_PER_MIB = 256


def dd_stack(trip: workloads.RoundTrip):
    """dd's allocation stack for its tmpfs file: the stack holding most of dd's pages after dd."""
    stacks = workloads.stacks_of(trip.at("dd").page_owner.dump, "dd")
    return max(stacks, key=stacks.get)


@pytest.mark.build_label("page-owner[page_owner=y,swap_page_owner=y]")
def test_round_trip_before_and_after(kernel, boot, results_dir, figures):
    assert kernel.config_value("SWAP_PAGE_OWNER") == "y"
    trips = {}
    for cmdline in ("page_owner=on", "page_owner=on,swap"):
        with boot(cmdline) as vm:
            trips[cmdline] = workloads.round_trip(vm.shell(), vm.results_dir / "round-trip")
    figures("page_owner swap round trip (cover letter: Before | After)", workloads.table(trips))

    before, after = trips["page_owner=on"], trips["page_owner=on,swap"]
    # Before: swap tracking off, the owner is lost on swap-in.
    assert not before.at("DD").swap_page_owner.available
    assert "Invalid argument" in before.at("DD").swap_page_owner.error
    assert before.at("cat").page_owner.comm("dd") < FILE_MIB * 0.15
    assert before.at("cat").page_owner.comm("cat") >= FILE_MIB * 0.8

    # After: while in swap, swap_page_owner accounts for about what swap holds.
    swapped = after.at("DD")
    assert swapped.swap_used_mib >= FILE_MIB * 0.85
    assert swapped.swap_page_owner.available
    assert swapped.swap_page_owner.total_mib == pytest.approx(swapped.swap_used_mib, rel=0.1, abs=8)
    assert swapped.swap_page_owner.comm("dd") >= FILE_MIB * 0.8
    # ... and after swap-in dd keeps its pages, cat stays small, restored pages say so.
    back = after.at("cat")
    assert back.page_owner.comm("dd") >= FILE_MIB * 0.97
    assert back.page_owner.comm("cat") < 16
    assert back.page_owner.swapped_mib >= swapped.swap_page_owner.comm("dd") * 0.9
    assert back.swap_page_owner.total_mib < 8, "records are dropped when pages come back"
    # show_stacks keeps counting dd's pages on dd's own allocation stack.
    stack = dd_stack(after)
    assert after.at("dd").stack_pages.get(stack, 0) >= FILE_MIB * PAGES_PER_MIB
    assert back.stack_pages.get(stack, 0) >= FILE_MIB * PAGES_PER_MIB * 0.97
    for trip in (before, after):
        for snap in trip.snapshots:
            assert abs(snap.page_owner.total_mib - snap.used_mib) <= max(0.05 * snap.used_mib, 8), snap.step


@pytest.mark.build_label("page-owner[page_owner=y,swap_page_owner=y]")
@pytest.mark.cmdline("page_owner=on,bogus")
def test_bad_suffix_keeps_swap_tracking_off(machine, shell):
    read = shell.run(["cat", workloads.SWAP_PAGE_OWNER])
    assert read.status != 0 and "Invalid argument" in read.stderr
    log = machine.console_text()
    assert re.search(r"page_owner.*bogus", log), "the kernel names the bad option"
    # page_owner itself stays usable.
    assert shell.run(["dd", f"if={workloads.PAGE_OWNER}", "of=/dev/null", "bs=64k", "count=1"]).status == 0
