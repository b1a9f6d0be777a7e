"""Fast page_owner snapshots (harness.run.snapshot) on a live 7.3 guest: handle mode vs full text.

The state is the round trip's after-dd step (256 MiB of dd's pages in /tmpfs).
The two reads follow each other with no workload running: only the readers
(sh, cat, sshd) and the odd kernel thread change memory between them.
"""

import pytest

from harness.errors import HarnessError
from harness.results.parse import procfs
from harness.run import snapshot, workloads

PAGES_PER_MIB = 256
# Measured on this state: 13 pages apart by comm within one guest command (tests/data/real-7.3),
# 39 (sshd 19, cat 13) across the two SSH commands here; 31 pages by stack.
READ_NOISE_MIB = 0.5


def apart(a: dict, b: dict) -> dict:
    return {key: a.get(key, 0) - b.get(key, 0) for key in a.keys() | b.keys() if a.get(key, 0) != b.get(key, 0)}


@pytest.mark.manifest("upstream-7.3")
@pytest.mark.cmdline("page_owner=on")
def test_handle_mode_snapshot_equals_full_text(shell, results_dir, figures):
    config = workloads.RoundTripConfig()
    workloads.prepare_round_trip(shell, config)
    workloads.fill_file(shell, config)
    dimensions = ("comm", "stack")
    text = snapshot.read_page_owner(shell, "text", dump=results_dir / "page_owner-text.txt.gz", dimensions=dimensions)
    fast = snapshot.read_page_owner(shell, dump=results_dir / "page_owner-handle.txt.gz", dimensions=dimensions)
    assert fast.mode == "handle", fast.fallback

    by_comm = apart(fast.summary.pages("comm"), text.summary.pages("comm"))
    assert sum(map(abs, by_comm.values())) <= READ_NOISE_MIB * PAGES_PER_MIB, by_comm
    assert fast.summary.by["comm"]["dd"].pages == text.summary.by["comm"]["dd"].pages >= 256 * PAGES_PER_MIB

    # By stack: every handle show_stacks_handles lists has its frames. The others are
    # early_handle (early-allocated pages, never listed) and stacks first used by an
    # allocation that could not spin (never listed either): they stay keyed by number.
    fast_stacks, text_stacks = fast.summary.pages("stack"), text.summary.pages("stack")
    early = max(fast.join.missing, key=lambda handle: fast.join.missing[handle][1])
    early_stack = next(key for key in text_stacks if key and key[0].startswith("register_early_stack"))
    assert fast.join.missing[early][1] == text_stacks[early_stack]
    named = {key: pages for key, pages in fast_stacks.items() if isinstance(key, tuple)}
    by_stack = apart(named, {key: text_stacks.get(key, 0) for key in named})
    assert sum(map(abs, by_stack.values())) <= READ_NOISE_MIB * PAGES_PER_MIB, by_stack
    unlisted = sum(pages for key, pages in text_stacks.items() if key not in named)
    assert abs(unlisted - fast.join.missing_pages) <= READ_NOISE_MIB * PAGES_PER_MIB
    # A descriptor that refuses the write is named; "auto" would read it as text.
    with pytest.raises(HarnessError, match="rejects mode=handle"):
        snapshot.read_page_owner(shell, "handle", path="/sys/kernel/debug/page_owner_stacks/count_threshold")

    figures("page_owner snapshot: full text vs handle mode (after dd 256 MiB, 512 MiB TCG guest)", "\n".join([
        f"full text        {text.seconds:6.1f} s  {text.summary.total.records} records, "
        f"{text.summary.total_mib:.1f} MiB",
        f"handle mode      {fast.seconds:6.1f} s  {fast.summary.total.records} records, "
        f"{fast.summary.total_mib:.1f} MiB",
        f"ratio text/handle {text.seconds / fast.seconds:5.1f}",
        f"apart by comm (pages): {by_comm}",
        f"apart by listed stack (pages): {sum(map(abs, by_stack.values()))} over {len(by_stack)} stacks",
        f"not in show_stacks_handles: {len(fast.join.missing)} handles, {fast.join.missing_records} records, "
        f"{fast.join.missing_pages} pages (early_handle: {fast.join.missing[early][1]} pages)",
    ]))
    assert fast.seconds < text.seconds


@pytest.mark.build_label("page-owner[page_owner=y,swap_page_owner=y]")
@pytest.mark.cmdline("page_owner=on,swap")
def test_swap_page_owner_handle_mode_equals_full_text(shell, results_dir, figures):
    """The series' swap_page_owner takes page_owner's print modes: the same records, stacks once."""
    config = workloads.RoundTripConfig()
    workloads.prepare_round_trip(shell, config)
    room = procfs.parse_meminfo(shell.check(["cat", "/proc/meminfo"]).stdout)["MemAvailable"] // 1024
    workloads.fill_file(shell, config)
    workloads.push_out(shell, config, room_mib=room)
    # Free DD's pin so that reclaim stops: with two vCPUs kswapd went on swapping
    # dd's pages out between the two reads (459 pages more in the second one).
    # Nothing touches dd's file, so its pages stay in swap.
    shell.check(["rm", "/tmpfs-noswap/file"])
    dimensions = ("comm", "stack")
    path = workloads.SWAP_PAGE_OWNER
    text = snapshot.read_page_owner(shell, "text", path=path, dump=results_dir / "swap_page_owner-text.txt.gz",
                                    dimensions=dimensions, timeout=600)
    fast = snapshot.read_page_owner(shell, "handle", path=path, dump=results_dir / "swap_page_owner-handle.txt.gz",
                                    dimensions=dimensions, timeout=600)
    assert fast.mode == "handle"
    assert text.summary.by["comm"]["dd"].pages >= 200 * PAGES_PER_MIB
    by_comm = apart(fast.summary.pages("comm"), text.summary.pages("comm"))
    assert sum(map(abs, by_comm.values())) <= READ_NOISE_MIB * PAGES_PER_MIB, by_comm
    named = {key: pages for key, pages in fast.summary.pages("stack").items() if isinstance(key, tuple)}
    by_stack = apart(named, {key: text.summary.pages("stack").get(key, 0) for key in named})
    assert sum(map(abs, by_stack.values())) <= READ_NOISE_MIB * PAGES_PER_MIB, by_stack
    assert fast.join.missing_pages <= READ_NOISE_MIB * PAGES_PER_MIB, "swapped pages have listed stacks"
    figures("swap_page_owner snapshot: full text vs handle mode (dd's 256 MiB in swap, 512 MiB TCG guest)", "\n".join([
        f"full text        {text.seconds:6.1f} s  {text.summary.total.records} records",
        f"handle mode      {fast.seconds:6.1f} s  {fast.summary.total.records} records",
        f"ratio text/handle {text.seconds / fast.seconds:5.1f}",
    ]))
