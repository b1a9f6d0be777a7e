"""page_owner_sort-style culling and sorting."""

from pathlib import Path

import pytest

from harness.results.parse import allocator, cull, iter_page_owner, iter_stack_records, parse_cull, parse_sort, sort_groups

DATA = Path(__file__).resolve().parent.parent / "data" / "handwritten"


@pytest.fixture(scope="module")
def records():
    return list(iter_page_owner((DATA / "page_owner-7.3-mode-stack.txt").read_text(), strict=True))


def test_parse_keys_and_aliases():
    assert parse_cull("p,tg,n,st,ator") == ("pid", "tgid", "comm", "stacktrace", "allocator")
    assert parse_sort("-pid,n,times,+pages,at") == [
        ("pid", True), ("comm", False), ("times", True), ("pages", False), ("timestamp", False),
    ]  # fmt: skip
    with pytest.raises(ValueError, match="unknown cull key 'colour'"):
        parse_cull("colour")
    with pytest.raises(ValueError):
        parse_sort("-")


def test_default_cull_groups_records_identical_but_for_ts_and_pfn(records):
    groups = sort_groups(cull(records), [("times", True)])
    top = groups[0]
    # dd's two unswapped pages: same header but ts, same stack and memcg; the swapped one differs.
    assert (top.times, top.pages, top.sample.comm, top.sample.swapped) == (2, 2, "dd", False)
    assert top.first_ts == 13255570102
    assert sum(g.times for g in groups) == 10 and len(groups) == 9


def test_cull_by_comm_sorted_by_pages(records):
    groups = sort_groups(cull(records, ("comm",)), parse_sort("pages"))
    assert [(g.value("comm"), g.pages) for g in groups][:3] == [("Web Content", 512), ("kworker/u8:1", 4), ("dd", 3)]


def test_cull_by_stacktrace_and_pid(records):
    groups = cull(records, ("stacktrace", "pid"))
    dd = [g for g in groups if g.value("pid") == 231]
    assert len(dd) == 1 and dd[0].times == 3
    assert dd[0].value("stacktrace")[5] == "shmem_alloc_folio+0x9a/0xb0"


def test_sort_ascending_descending_and_missing_values(records):
    groups = sort_groups(cull(records, ("pid",)), parse_sort("pid"))
    assert [g.value("pid") for g in groups] == [1, 87, 231, 240, 245, 612, 700, 1500]
    groups = sort_groups(groups, parse_sort("-pid"))
    assert [g.value("pid") for g in groups][:2] == [1500, 700]
    groups = sort_groups(cull(records), parse_sort("timestamp"))
    assert groups[0].sample.comm == "swapper/0"


def test_allocator_classes(records):
    by_comm = {r.comm: allocator(r) for r in records}
    assert by_comm["(sd-pam)"] == "SLAB"  # "Slab cache page"
    assert by_comm["x), ts 9 (y"] == "VMALLOC"  # alloc_pages_bulk_noprof before __vmalloc_node_range_noprof
    assert by_comm["dd"] == "OTHERS"
    groups = sort_groups(cull(records, ("allocator",)), parse_sort("pages"))
    assert [(g.value("allocator"), g.times) for g in groups] == [("OTHERS", 8), ("SLAB", 1), ("VMALLOC", 1)]


def test_stacks_dump_culls_by_stack():
    records = list(iter_stack_records((DATA / "show_stacks.txt").read_text()))
    groups = sort_groups(cull(records), parse_sort("pages"))
    assert groups[0].pages == 512 and len(groups) == 7
