"""mTHP stats, pagemap and per-subpage owners, on real runs of the patched 7.3 kernel (tests/data/mthp)."""

import json
import lzma
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.results import subpage_owners as owners
from harness.run import mthp_holder, mthp

DATA = Path(__file__).resolve().parent.parent / "data" / "mthp"
TWO = DATA / "two-owners"
ANON = DATA / "anon-brd"
PAGES = 8192  # the holder's 32 MiB region
MOVED_PHASE = 11  # the region's first page index modulo 16 after the move (observations.json: phase)


def pagemap(name: str) -> list[mthp_holder.PageState]:
    return mthp_holder.parse_pagemap(lzma.open(TWO / f"pagemap-{name}.txt.xz", "rt").read())


def holder() -> mthp_holder.Holder:
    return mthp_holder.Holder(pid=0, start=0, pages=PAGES, directory="/tmp/mthp-holder", owner="OWNA",
                              child="OWNB", memcg="/sys/fs/cgroup/mthp-holder", cpu=0)


@pytest.fixture(scope="module")
def page_owner():
    return {name: owners.page_owner_records(TWO / f"page_owner-{name}.txt.xz") for name in ("held", "back", "split")}


def stats(directory: Path, step: str) -> mthp.Stats:
    return mthp.parse_stats(64, (directory / f"stats-64kB-{step}.txt").read_text())


def test_stats_of_a_64k_anon_round_trip_on_brd():
    held, out, back = (stats(ANON, step) for step in ("held", "out", "back"))
    observed = json.loads((ANON / "observations.json").read_text())
    assert out.since(held)["swpout"] == observed["pageout"]["64kB/swpout"] >= PAGES // 16
    assert out.since(held)["swpout_fallback"] == 0
    assert back.since(out)["swpin"] == observed["swapin"]["64kB/swpin"]
    assert out.since(held).pages("swpout") == 16 * out.since(held)["swpout"]
    assert {"swpout", "swpout_fallback", "swpin", "swpin_fallback", "shmem_alloc", "zswpout", "split"} <= set(
        held.counters)


def test_stats_name_the_counters_they_have():
    held = stats(ANON, "held")
    with pytest.raises(HarnessError, match="no counter 'swapout'") as error:
        held["swapout"]
    assert "swpout_fallback" in error.value.hint
    with pytest.raises(HarnessError, match="hugepages-128kB"):
        mthp.parse_stats(128, (ANON / "stats-64kB-held.txt").read_text())
    with pytest.raises(HarnessError, match="cannot compare"):
        held.since(mthp.Stats(128, {}))


def test_policy_values_are_checked_before_anything_is_written():
    with pytest.raises(HarnessError, match="'sometimes' is not a policy"):
        mthp._check("sometimes", mthp.ANON_POLICIES, "hugepages-64kB/enabled")


def test_pagemap_before_and_after_swap_out():
    held, out = pagemap("held"), pagemap("out")
    assert len(held) == len(out) == PAGES
    assert all(s.pfn is not None and s.swap_entry is None for s in held)
    assert all(s.pfn is None and s.swap_type == 0 for s in out)
    offsets = [s.swap_offset for s in out]
    assert len(set(offsets)) == PAGES, "one swap entry per page"
    # memory.reclaim took the region oldest first: consecutive slots, in address order.
    assert all(b == a + 1 for a, b in zip(offsets, offsets[1:]))
    assert mthp_holder.slot_phase(out) == (MOVED_PHASE, PAGES)


def test_swap_runs_need_the_alignment_the_move_gave():
    out = pagemap("out")
    assert mthp_holder.swap_runs(out, MOVED_PHASE) == 511  # 512 groups but the cut one at each end
    assert mthp_holder.swap_runs(out, 0) == 0, "page index and swap offset disagree modulo 16"
    gap = list(out)
    gap[100] = mthp_holder.PageState(pfn=1)  # one page back in memory breaks its group only
    assert mthp_holder.swap_runs(gap, MOVED_PHASE) == 510
    assert mthp_holder.swap_runs(pagemap("held"), MOVED_PHASE) == 0


def test_pagemap_lines_are_checked():
    assert mthp_holder.parse_pagemap("P1f\nS0 2a\n-\n") == [
        mthp_holder.PageState(pfn=0x1f), mthp_holder.PageState(swap_type=0, swap_offset=0x2a), mthp_holder.PageState()]
    assert mthp_holder.PageState(swap_type=1, swap_offset=5).swap_entry == (1 << 58) | 5
    with pytest.raises(HarnessError, match="pagemap line 2"):
        mthp_holder.parse_pagemap("P1\nX\n")


def test_the_holder_faults_alternate_owners(page_owner):
    result = owners.page_owner_mismatches(pagemap("held"), holder().expected_owner, page_owner["held"])
    assert result.checked == PAGES and result.mismatches == []
    assert result.found == Counter({"OWNA": PAGES // 2, "OWNB": PAGES // 2})
    assert result.orders == Counter({0: PAGES})


def test_swap_page_owner_holds_one_record_per_entry_with_its_owner():
    records = owners.swap_page_owner_records(TWO / "swap_page_owner-out.txt.xz")
    result = owners.swap_owner_mismatches(pagemap("out"), holder().expected_owner, records)
    assert result.checked == PAGES and result.mismatches == [], result.summary()
    assert owners.duplicates(records) == {}
    assert owners.duplicates(records + records[:1]) == {records[0].swp_entry: 2}
    # Had the series stored the first entry's record for every entry, half the pages would say so.
    by_entry = {state.swap_entry: index for index, state in enumerate(pagemap("out"))}
    wrong = [replace(r, comm="OWNA") if by_entry.get(r.swp_entry, 0) % 2 else r for r in records]
    assert len(owners.swap_owner_mismatches(pagemap("out"), holder().expected_owner, wrong).mismatches) == PAGES // 2


def test_v1_names_the_head_owner_for_every_subpage_of_a_64k_swap_in(page_owner):
    """The finding of test_two_owners_in_one_64k_swap_in on v1 of the series: 511 folios of 16
    pages, each restored from the record of its first swap entry (an odd page: OWNB)."""
    back = owners.page_owner_mismatches(pagemap("back"), holder().expected_owner, page_owner["back"])
    assert back.orders == Counter({4: 511 * 16, 0: 16}) and back.swapped == PAGES
    split = owners.page_owner_mismatches(pagemap("split"), holder().expected_owner, page_owner["split"])
    assert split.orders == Counter({0: PAGES}), "split_huge_pages: a record per subpage"
    assert len(split.mismatches) == len(back.mismatches) == 511 * 8
    assert {(index % 2, want, got) for index, want, got in split.mismatches} == {(0, "OWNA", "OWNB")}
    assert "4088 of 8192 pages misattributed" in split.summary()


def test_a_tail_page_is_covered_by_its_head_record(page_owner):
    records = page_owner["back"]
    head = next(r for r in records.values() if r.order == 4 and r.comm == "OWNB")
    assert owners.covering(records, head.pfn + 15) is head
    assert owners.covering(records, head.pfn + 16) is not head
