"""What the linux-mm style review of the page_owner swap series (issue #14) pinned down, on the patched y/y kernel.

- The boot option: every form of `page_owner=` has a defined result (the last one wins,
  `on,` is no option, `off,swap` is refused by name).
- The debugfs file: page_owner's first line (order 0, gfp mask), the swap type and offset,
  mode=handle like page_owner; the lost and mismatched counters.
- Double counting: a page in the swap cache is counted in memory and in swap space, and
  show_stacks is the sum of the two files (the documented semantics).
"""

import re

import pytest

from harness.results.parse import aggregate
from harness.run import anon_holder, workloads
from harness.run.snapshot import summarise_dump

YY = "page-owner[page_owner=y,swap_page_owner=y]"
FILE_MIB = 256
PAGES_PER_MIB = 256
LOST, MISMATCHED = workloads.SWAP_PAGE_OWNER_LOST, workloads.SWAP_PAGE_OWNER_MISMATCHED
TRACKING = "page_owner: tracking pages in swap space"


def tracking(shell) -> bool:
    """Whether swap_page_owner can be read (swap tracking on); it fails with EINVAL when off."""
    read = shell.run(["cat", workloads.SWAP_PAGE_OWNER])
    assert read.status == 0 or "Invalid argument" in read.stderr, read.stderr
    return read.status == 0


@pytest.mark.build_label(YY)
@pytest.mark.parametrize("expect_tracking", [
    pytest.param(False, id="last-one-wins-off", marks=pytest.mark.cmdline("page_owner=on,swap page_owner=on")),
    pytest.param(True, id="last-one-wins-on", marks=pytest.mark.cmdline("page_owner=on page_owner=on,swap")),
    pytest.param(False, id="empty-option", marks=pytest.mark.cmdline("page_owner=on,")),
])
def test_every_form_of_the_boot_option_has_a_defined_result(machine, shell, expect_tracking):
    assert tracking(shell) == expect_tracking
    log = machine.console_text()
    assert (TRACKING in log) == expect_tracking
    assert not re.search(r"page_owner: (unknown option|option 'swap')", log), "no error for a valid command line"


@pytest.mark.build_label(YY)
@pytest.mark.cmdline("page_owner=off,swap")
def test_swap_option_without_page_owner_is_refused_by_name(machine, shell):
    log = machine.console_text()
    assert "page_owner: option 'swap' requires page_owner=on, ignored" in log
    assert "page_owner: page_owner is disabled" in log, "pr_fmt prefixes the existing messages"
    assert shell.run(["test", "-e", workloads.SWAP_PAGE_OWNER]).status != 0


def read_counter(shell, path: str) -> int:
    return int(shell.check(["cat", path]).stdout)


@pytest.mark.build_label(YY)
@pytest.mark.cmdline("page_owner=on,swap")
def test_swap_page_owner_format_counters_and_double_counting(shell, results_dir, figures):
    """perl's anonymous memory goes to swap and is read back by read faults (left in the swap cache)."""
    config = workloads.RoundTripConfig()
    workloads.prepare_round_trip(shell, config)
    start = workloads.snapshot(shell, "start", results_dir, config)
    pid = anon_holder.start(shell, FILE_MIB)
    workloads.push_out(shell, config, room_mib=start.meminfo["MemAvailable"] // 1024,
                       resident=lambda: workloads.anon_resident_mib(shell, pid))

    # The format: page_owner's first line (order 0, gfp mask), then the swap slot.
    head = shell.check(["sh", "-c", 'dd if="$1" bs=64k count=1 status=none', "head",
                        workloads.SWAP_PAGE_OWNER]).stdout.split("\n")
    assert re.fullmatch(r"Page allocated via order 0, mask 0x[0-9a-f]+\([A-Z_|]*\), pid \d+, tgid \d+ \(.*\), "
                        r"ts \d+ ns", head[0]), head[0]
    assert re.fullmatch(r"SWP type \d+ offset 0x[0-9a-f]+", head[1]), head[1]
    out = workloads.snapshot(shell, "swapped", results_dir, config)
    assert out.swap_page_owner.comm("perl") >= FILE_MIB * 0.8

    # Every used swap slot has a record, or is counted as lost; order-0 pages never mismatch.
    lost, mismatched = read_counter(shell, LOST), read_counter(shell, MISMATCHED)
    swap_used_pages = (out.meminfo["SwapTotal"] - out.meminfo["SwapFree"]) // 4
    records = round(out.swap_page_owner.total_mib * PAGES_PER_MIB)
    assert records + lost == pytest.approx(swap_used_pages, rel=0.02, abs=512)
    assert mismatched == 0

    shell.check(["rm", "/tmpfs-noswap/file"])
    anon_holder.read_back(shell, pid)
    back = workloads.snapshot(shell, "back", results_dir, config)
    assert back.page_owner.comm("perl") >= FILE_MIB * 0.97

    # Read faults leave the folios in the swap cache: perl's pages are in both files, and
    # show_stacks' nr_base_pages of perl's stack is the sum of the two (documented semantics).
    # A stack is not perl's own (other tasks fault anonymous pages in the same way): all of
    # its pages count. The three files are read one after the other, and pages move in
    # between (measured: 241 and 382 pages apart of 115k); were a swap cache page counted
    # once, the sum would exceed show_stacks by the records (over 30k pages here).
    perl = summarise_dump(back.page_owner.dump, dimensions=("stack",), where=aggregate.select(comms=["perl"]))
    stack = max(perl.pages("stack"), key=perl.pages("stack").get)
    in_memory = summarise_dump(back.page_owner.dump, dimensions=("stack",)).pages("stack")
    in_swap = summarise_dump(back.swap_page_owner.dump, dimensions=("stack",)).pages("stack")
    assert in_swap.get(stack, 0) >= FILE_MIB * PAGES_PER_MIB * 0.5, "the swap cache kept most of perl's entries"
    assert back.stack_pages[stack] == pytest.approx(in_memory[stack] + in_swap[stack], rel=0.01)
    figures("page_owner swap review: counters and double counting (perl, 256 MiB anonymous)", "\n".join([
        f"swap used {swap_used_pages} pages, records {records}, lost {lost}, mismatched {mismatched}",
        f"perl's stack after read faults: page_owner {in_memory[stack]} + swap_page_owner {in_swap[stack]} pages, "
        f"show_stacks nr_base_pages {back.stack_pages[stack]}",
    ]))
