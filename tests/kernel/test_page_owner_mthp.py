"""The page_owner swap series with 64 KiB mTHP (issue #14), on the patched y/y kernel.

What 7.3 does here, measured (mm/memory.c, mm/shmem.c, mm/page_io.c): a 64 KiB
folio, anonymous or tmpfs, is written to swap in one piece
(hugepages-64kB/stats/swpout) into 16 consecutive, aligned swap entries, each
with its own swap_page_owner record. It is read back in one piece only from a
SWP_SYNCHRONOUS_IO device (brd here; zram, pmem) while zswap has never been
enabled (stats/swpin); from virtio-blk page by page (anonymous memory: swap
readahead; tmpfs: the large swap entry is split). Both devices are tested.

The guest kernel has no madvise() (CONFIG_ADVISE_SYSCALLS=n), so memory goes
to swap through memory.reclaim of the workload's own cgroup: oldest pages
first, i.e. in the order they were faulted.

An anonymous 64 KiB swap-in needs only 16 consecutive, aligned swap entries
behind 16 PTEs with the same swp bits, not one folio behind them: order-0
pages of two owners (comms), faulted alternately and reclaimed in that order,
come back as one folio, which the series gives one owner and counts
(test_two_owners_in_one_64k_swap_in).
"""

from collections import Counter

import pytest

from harness.results import subpage_owners as owners
from harness.run import mthp_holder, mthp, workloads
from harness.run.debugfs import DEBUGFS, SWAP_PAGE_OWNER_MISMATCHED
from harness.run.mthp_guest import Guest, dd_orders, stack_pages, swap_cached_mib, swap_on, view

YY = "page-owner[page_owner=y,swap_page_owner=y]"
BRD_KIB = 256 * 1024
DEVICES = {"disk": "/dev/vdb", "brd": "/dev/ram0"}  # virtio-blk (asynchronous), brd (SWP_SYNCHRONOUS_IO)
SPLIT = f"{DEBUGFS}/split_huge_pages"
MIB = 32
PER_FOLIO = mthp.pages_of(64)
NEVER = mthp.Policy(anon={}, shmem={})
ANON_64K = mthp.Policy(anon={64: "always"}, shmem={})

pytestmark = [pytest.mark.build_label(YY),
              pytest.mark.cmdline(f"page_owner=on,swap brd.rd_nr=1 brd.rd_size={BRD_KIB}")]


def read_counter(shell, path: str) -> int:
    return int(shell.check(["cat", path]).stdout)


def swap_out(shell, guest: Guest, holder) -> list:
    """Reclaim the holder's cgroup until every page of its region is in swap and out of the swap
    cache (written to virtio-blk, a folio stays in the swap cache until a later reclaim pass)."""
    for attempt in range(6):
        mthp_holder.reclaim(shell, holder, 2 * MIB)
        states = mthp_holder.pagemap(shell, holder)
        cached = swap_cached_mib(shell)
        if all(s.swap_entry is not None for s in states) and cached < 1:
            break
    guest.note(reclaim_passes=attempt + 1, swap_cached_mib=cached)
    return states


@pytest.mark.parametrize("backend", ["disk", "brd"])
def test_anon_64k_folios_round_trip(shell, results_dir, backend):
    """MTHPA faults 32 MiB in 64 KiB folios; its cgroup's reclaim writes them out whole; reading brings them back."""
    guest = Guest(shell, results_dir)
    swap_on(shell, DEVICES[backend])
    mthp.pause_khugepaged(shell)
    mthp.apply(shell, ANON_64K)
    holder = mthp_holder.start_holder(shell, MIB, "MTHPA")
    pages, folios = holder.pages, holder.pages // PER_FOLIO
    held = owners.page_owner_mismatches(guest.pagemap(holder, "held"), holder.expected_owner, guest.page_owner("held"))
    before = guest.counters("held")
    swap_out(shell, guest, holder)
    out = guest.counters("out")
    states = guest.pagemap(holder, "out")
    records = guest.swap_page_owner("out")
    stored = owners.swap_owner_mismatches(states, holder.expected_owner, records)
    ones, twos = map(int, mthp_holder.command(shell, holder, "touch").split())
    back = guest.counters("back")
    restored = owners.page_owner_mismatches(guest.pagemap(holder, "back"), holder.expected_owner,
                                            guest.page_owner("back"))
    left = guest.swap_page_owner("back")
    guest.note(pages=pages, held=view(held), pageout=out.since(before), swapped=view(stored),
               records=len(records), duplicates=len(owners.duplicates(records)),
               swap_used_pages=out.swap_used_pages, swap_cached_kib=out.meminfo["SwapCached"],
               touch=[ones, twos], swapin=back.since(out), back=view(restored), records_back=len(left),
               swap_used_back=back.swap_used_pages)

    assert held.mismatches == [] and held.orders == {4: pages}, f"MTHPA's region in 64 KiB folios: {view(held)}"
    # Swap-out: every folio whole (16 consecutive aligned entries; perl's own heap, also in
    # 64 KiB folios, adds a few to the counter), one record per swap entry, each naming MTHPA.
    assert out.since(before).get("64kB/swpout", 0) >= folios, out.since(before)
    assert out.since(before).get("64kB/swpout_fallback", 0) == 0
    assert mthp_holder.swap_runs(states, holder.start // 4096) == folios
    assert stored.checked == pages and stored.mismatches == [], stored.summary()
    assert owners.duplicates(records) == {}
    assert len(records) == out.swap_used_pages, "one record per swap entry in use"
    # Swap-in: the data, the owner of every page, and the restored marks.
    assert (ones, twos) == (pages * 4096, 0)
    assert restored.checked == pages and restored.mismatches == [], restored.summary()
    still_cached = out.meminfo["SwapCached"] // 4  # in memory all along: no swap-in, no mark
    assert pages - still_cached <= restored.swapped <= pages, "every page read back from swap is marked (swapped)"
    swapin = back.since(out)
    assert restored.swapped <= swapin["pswpin"] + swapin["swpin_zero"], "marked pages were read from swap"
    if backend == "brd":  # SWP_SYNCHRONOUS_IO: do_swap_page reads each folio back whole
        assert folios <= swapin.get("64kB/swpin", 0) <= folios + 16, swapin  # + perl's heap, also 64 KiB
        assert restored.orders == {4: pages} and restored.swapped == PER_FOLIO * folios
        region = {state.swap_entry for state in states}
        assert [r for r in left if r.swp_entry in region] == [], "swap-in freed the entries, and their records"
    else:  # swap readahead reads order-0 folios, which stay in the swap cache
        assert swapin.get("64kB/swpin", 0) == 0 and swapin["pswpin"] >= pages - still_cached, swapin
        assert restored.orders == {0: pages}
    assert len(left) == back.swap_used_pages, "one record per swap entry in use"


def test_two_owners_in_one_64k_swap_in(shell, results_dir):
    """OWNA's and OWNB's order-0 pages alternate; they go to consecutive swap slots and come back as 64 KiB folios.

    v2 of the series gives a folio one owner, the first record found among its entries (page_owner
    accounts a folio to its head's stack at free and split), and counts every subpage whose own
    record was another allocation's in swap_page_owner_mismatched. So here half of each 64 KiB
    swap-in names the other comm, exactly as many pages as the counter says, and show_stacks moves
    those pages to the first record's stack without losing any (v1 did the same, uncounted).
    """
    guest = Guest(shell, results_dir)
    swap_on(shell, DEVICES["brd"])
    mthp.pause_khugepaged(shell)
    mthp.apply(shell, NEVER)
    holder = mthp_holder.start_holder(shell, MIB, "OWNA", child="OWNB")
    pages = holder.pages
    held_dump = results_dir / "page_owner-held.txt.gz"
    held = owners.page_owner_mismatches(guest.pagemap(holder, "held"), holder.expected_owner, guest.page_owner("held"))
    stacks = {comm: max(found.items(), key=lambda item: item[1])[0]
              for comm in ("OWNA", "OWNB") for found in [workloads.stacks_of(str(held_dump), comm)]}
    stacks_held = stack_pages(shell, results_dir, "held")
    before = guest.counters("held")
    phase, in_phase = mthp_holder.slot_phase(swap_out(shell, guest, holder))
    out = guest.counters("out")
    holder = mthp_holder.move(shell, holder, phase)  # page index and swap offset now agree modulo 16
    states = guest.pagemap(holder, "out")
    first = holder.start // 4096
    runs = mthp_holder.swap_runs(states, first)
    records = guest.swap_page_owner("out")
    stored = owners.swap_owner_mismatches(states, holder.expected_owner, records)
    mthp.apply(shell, ANON_64K)
    mismatched_before = read_counter(shell, SWAP_PAGE_OWNER_MISMATCHED)
    ones, twos = map(int, mthp_holder.command(shell, holder, "touch").split())
    mismatched = read_counter(shell, SWAP_PAGE_OWNER_MISMATCHED) - mismatched_before
    back = guest.counters("back")
    back_states = guest.pagemap(holder, "back")
    restored = owners.page_owner_mismatches(back_states, holder.expected_owner, guest.page_owner("back"))
    stacks_back = stack_pages(shell, results_dir, "back")
    end = f"{holder.start + pages * 4096:#x}"
    shell.check(["sh", "-c", f'echo "$1" > {SPLIT}', "split", f"{holder.pid},{holder.start:#x},{end}"])
    split = guest.counters("split")
    after = owners.page_owner_mismatches(guest.pagemap(holder, "split"), holder.expected_owner,
                                         guest.page_owner("split"))
    guest.note(pages=pages, held=view(held), pageout=out.since(before), phase=[phase, in_phase], runs=runs,
               swapped=view(stored), duplicates=len(owners.duplicates(records)), touch=[ones, twos],
               swapin=back.since(out), mismatched=mismatched, back=view(restored), split=split.since(back),
               after_split=view(after),
               after_split_first=after.mismatches[:16],
               stack_pages={comm: [stacks_held.get(stack, 0), stacks_back.get(stack, 0)]
                            for comm, stack in stacks.items()})
    mthp_holder.stop_holder(shell, holder)

    # The set-up: alternate owners, order-0 pages.
    assert held.mismatches == [] and held.orders == {0: pages}, f"OWNA even, OWNB odd pages: {view(held)}"
    assert held.found == Counter({"OWNA": pages // 2, "OWNB": pages // 2})
    # Swap-out: consecutive aligned slots (the premise of a 64 KiB swap-in), one record each, the right owner.
    assert out.since(before).get("pswpout", 0) >= pages
    assert in_phase >= pages * 0.9, "reclaim in address order: consecutive swap slots"
    assert runs >= pages // PER_FOLIO * 0.8, f"{runs} groups of 16 PTEs can be swapped in as one folio"
    assert stored.checked == pages and stored.mismatches == [], stored.summary()
    assert owners.duplicates(records) == {}
    # Swap-in: one 64 KiB folio per group, the data intact.
    assert (ones, twos) == (pages // 2 * 4096, pages // 2 * 4096)
    assert back.since(out).get("64kB/swpin") == runs, back.since(out)
    assert restored.orders.get(4) == runs * PER_FOLIO and restored.swapped == pages, view(restored)
    # OWNA's pages were allocated by anonymous faults, OWNB's by copy on write from the zero
    # page: two stacks, whose nr_base_pages must still count each owner's pages after the swap-in.
    assert stacks["OWNA"] != stacks["OWNB"]
    assert all(stacks_held.get(stack, 0) >= pages // 2 for stack in stacks.values()), guest.seen["stack_pages"]
    # split_huge_pages makes every subpage a record of its own. Each 64 KiB swap-in was given its
    # first record's owner: its other owner's 8 subpages are misattributed, and counted.
    assert after.orders == {0: pages}, view(after)
    assert split.since(back).get("64kB/split") == runs
    assert mismatched == runs * PER_FOLIO // 2, f"counter {mismatched}, {runs} folios of two owners"
    assert len(restored.mismatches) == mismatched, restored.summary()  # before the split: the head's record
    assert len(after.mismatches) == mismatched, after.summary()
    held_total = sum(stacks_held.get(stack, 0) for stack in stacks.values())
    back_total = sum(stacks_back.get(stack, 0) for stack in stacks.values())
    assert abs(back_total - held_total) <= 2 * PER_FOLIO, f"show_stacks [held, back]: {guest.seen['stack_pages']}"


@pytest.mark.parametrize("backend", ["disk", "brd"])
def test_tmpfs_64k_folios_round_trip(shell, results_dir, backend):
    """dd writes 32 MiB in 64 KiB steps into a huge=within_size tmpfs (64 KiB folios) from its own cgroup,
    whose reclaim writes them to swap; cmp reads them back."""
    guest = Guest(shell, results_dir)
    swap_on(shell, DEVICES[backend])
    mthp.pause_khugepaged(shell)
    mthp.apply(shell, NEVER)  # tmpfs mounts follow huge=, not the per-size knobs
    mthp.mount_tmpfs(shell, "/tmpfs-mthp", "within_size")
    memcg = mthp_holder.make_memcg(shell, "mthp-dd")
    path, pages, folios = "/tmpfs-mthp/file", MIB * 256, MIB * 256 // PER_FOLIO
    start = guest.counters("start")
    shell.check(mthp_holder.in_memcg(memcg, "sh", "-c", 'yes mmharness-page | taskset -c 0 dd of="$1" bs=64k '
                                     'count="$2" iflag=fullblock status=none', "fill", path, str(folios)), timeout=600)
    written = guest.counters("dd")
    held = dd_orders(guest.page_owner("dd"))
    for attempt in range(6):
        mthp_holder.memcg_reclaim(shell, memcg, 2 * MIB)
        if workloads.resident_mib(shell, path) == 0 and swap_cached_mib(shell) < 1:
            break
    out = guest.counters("out")
    records = guest.swap_page_owner("out")
    dd_records = sum(r.comm == "dd" for r in records)
    shell.check(["sh", "-c", 'yes mmharness-page | head -c "$2" | cmp -s - "$1"', "check", path, str(MIB << 20)],
                timeout=600)
    back = guest.counters("back")
    restored = dd_orders(guest.page_owner("back"), "dd")
    left = guest.swap_page_owner("back")
    guest.note(pages=pages, dd=written.since(start), held=dict(held), reclaim_passes=attempt + 1,
               pushout=out.since(written), records=len(records), dd_records=dd_records,
               duplicates=len(owners.duplicates(records)), swap_used_pages=out.swap_used_pages,
               swap_cached_kib=out.meminfo["SwapCached"], swapin=back.since(out), back=dict(restored),
               records_back=len(left), swap_used_back=back.swap_used_pages)

    assert written.since(start).get("64kB/shmem_alloc") == folios, written.since(start)
    assert held[4] == pages, f"dd's file in 64 KiB folios: {dict(held)}"
    pushed = out.since(written)
    # Swap-out: written whole, one record per swap entry, dd's file all of dd's.
    assert pushed.get("64kB/swpout", 0) == folios and pushed.get("64kB/swpout_fallback", 0) == 0, pushed
    assert dd_records == pages, "one record per page of dd's file"
    assert owners.duplicates(records) == {}
    assert len(records) == out.swap_used_pages, "one record per swap entry in use"
    # Swap-in: dd keeps its file, every page marked (swapped).
    swapin = back.since(out)
    still_cached = out.meminfo["SwapCached"] // 4  # in memory all along: no swap-in, no mark
    assert restored[4] + restored[0] >= pages, f"dd keeps its file: {dict(restored)}"
    assert pages - still_cached <= restored["swapped"] <= swapin["pswpin"] + swapin["swpin_zero"], dict(restored)
    if backend == "brd":  # shmem_swap_alloc_folio: read back whole
        assert swapin.get("64kB/swpin", 0) == folios, swapin
        assert restored[4] >= pages and restored["swapped"] == PER_FOLIO * swapin["64kB/swpin"], dict(restored)
    else:  # shmem_swapin_cluster reads order 0, the large swap entry is split
        assert swapin.get("64kB/swpin", 0) == 0, swapin
        assert restored[0] >= pages - still_cached, dict(restored)
    assert len(left) == back.swap_used_pages, "one record per swap entry in use"


# Of the internal shmem mount, only shared anonymous mappings take the per-size
# hugepages-<size>kB/shmem_enabled knobs (mm/shmem.c shmem_allowable_huge_orders:
# vma_is_anon_shmem); SysV shm segments follow the top-level shmem_enabled, PMD size first,
# and got order-0 folios here with only hugepages-64kB/shmem_enabled=always.
SHMEM_64K = mthp.Policy(anon={}, shmem={64: "always"})


@pytest.mark.parametrize("backend", ["disk", "brd"])
def test_shared_anonymous_64k_folios_round_trip(shell, results_dir, backend):
    """SHMA fills a 32 MiB MAP_SHARED|MAP_ANONYMOUS region in 64 KiB shmem folios (hugepages-64kB/shmem_enabled=
    always); its cgroup's reclaim writes them to swap; reading brings them back, every page SHMA's."""
    guest = Guest(shell, results_dir)
    swap_on(shell, DEVICES[backend])
    mthp.pause_khugepaged(shell)
    mthp.apply(shell, SHMEM_64K)
    start = guest.counters("start")
    holder = mthp_holder.start_holder(shell, MIB, "SHMA", shared=True)
    pages, folios = holder.pages, holder.pages // PER_FOLIO
    written = guest.counters("held")
    held = owners.page_owner_mismatches(guest.pagemap(holder, "held"), holder.expected_owner, guest.page_owner("held"))
    for attempt in range(6):
        mthp_holder.reclaim(shell, holder, 2 * MIB)
        # shmem keeps its swap entries in the page cache, not in the PTEs: pagemap shows none
        if all(s.pfn is None for s in mthp_holder.pagemap(shell, holder)) and swap_cached_mib(shell) < 1:
            break
    out = guest.counters("out")
    records = guest.swap_page_owner("out")
    shma_records = sum(r.comm == "SHMA" for r in records)
    ones, twos = map(int, mthp_holder.command(shell, holder, "touch").split())
    back = guest.counters("back")
    restored = owners.page_owner_mismatches(guest.pagemap(holder, "back"), holder.expected_owner,
                                            guest.page_owner("back"))
    left = guest.swap_page_owner("back")
    mthp_holder.stop_holder(shell, holder)
    guest.note(pages=pages, held=view(held), written=written.since(start), reclaim_passes=attempt + 1,
               pushout=out.since(written), records=len(records), shma_records=shma_records,
               duplicates=len(owners.duplicates(records)), swap_used_pages=out.swap_used_pages,
               swap_cached_kib=out.meminfo["SwapCached"], touch=[ones, twos], swapin=back.since(out),
               back=view(restored), records_back=len(left), swap_used_back=back.swap_used_pages)

    assert written.since(start).get("64kB/shmem_alloc") == folios, written.since(start)
    assert held.mismatches == [] and held.orders == {4: pages}, f"SHMA's region in 64 KiB folios: {view(held)}"
    pushed = out.since(written)
    assert pushed.get("64kB/swpout", 0) == folios and pushed.get("64kB/swpout_fallback", 0) == 0, pushed
    assert pages <= shma_records <= pages + 256, "one record per page of the region (and of perl's own heap: ~140)"
    assert owners.duplicates(records) == {}
    assert len(records) == out.swap_used_pages, "one record per swap entry in use"
    assert (ones, twos) == (pages * 4096, 0)
    swapin = back.since(out)
    still_cached = out.meminfo["SwapCached"] // 4
    assert restored.checked == pages and restored.mismatches == [], restored.summary()
    assert pages - still_cached <= restored.swapped <= swapin["pswpin"] + swapin["swpin_zero"], view(restored)
    if backend == "brd":  # shmem_swap_alloc_folio: read back whole
        assert swapin.get("64kB/swpin", 0) == folios and restored.orders == {4: pages}, swapin
        assert restored.swapped == PER_FOLIO * swapin["64kB/swpin"]
    else:  # shmem_swapin_cluster reads order 0, the large swap entry is split
        assert swapin.get("64kB/swpin", 0) == 0 and restored.orders == {0: pages}, swapin
    assert len(left) == back.swap_used_pages, "one record per swap entry in use"
