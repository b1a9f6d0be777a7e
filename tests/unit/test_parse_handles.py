"""Handle mode joined with show_stacks_handles gives the aggregates of the full text."""

from pathlib import Path

from harness.results.parse import Summary, iter_page_owner, iter_records, load_handle_map, summarise
from harness.results.parse.handles import JoinStats, join_handles

DATA = Path(__file__).resolve().parent.parent / "data" / "handwritten"
EARLY_HANDLE = 8912897


def read(name):
    return (DATA / name).read_text()


def test_join_gives_the_same_aggregates_as_full_text():
    full = summarise(read("page_owner-7.3-mode-stack.txt"), strict=True)
    stats = JoinStats()
    records = iter_records(
        read("page_owner-7.3-mode-handle.txt"),
        handles=read("show_stacks_handles.txt"),
        join_stats=stats,
        strict=True,
    )
    joined = Summary().feed(records)
    for dimension in ("comm", "pid", "tgid", "memcg", "gfp_flag", "migratetype", "swapped"):
        assert joined.by[dimension] == full.by[dimension], dimension
    assert joined.total == full.total
    # Early-allocated pages carry early_handle, never listed in show_stacks_handles:
    # they stay keyed by the handle number; every other stack matches.
    early_stack = next(s for s in full.by["stack"] if s[0].startswith("register_early_stack"))
    expected = dict(full.by["stack"])
    expected[EARLY_HANDLE] = expected.pop(early_stack)
    assert joined.by["stack"] == expected
    assert stats.joined == 9 and stats.missing == {EARLY_HANDLE: [1, 1]}


def test_handles_as_a_mapping_and_stack_objects_shared():
    handles = load_handle_map(read("show_stacks_handles.txt"))
    records = list(join_handles(iter_page_owner(read("page_owner-7.3-mode-handle.txt")), handles))
    assert records[0].stack is handles[2228236]
    assert records[8].stack is None and records[8].handle == EARLY_HANDLE


def test_stack_handle_mode_is_checked_against_the_map():
    handles = dict(load_handle_map(read("show_stacks_handles.txt")))
    issues = []
    records = list(join_handles(iter_page_owner(read("page_owner-7.3-mode-stack_handle.txt")), handles,
                                on_issue=issues.append))  # fmt: skip
    assert issues == [] and len(records) == 4
    handles[2228236] = ("something_else+0x1/0x2",)
    list(join_handles(iter_page_owner(read("page_owner-7.3-mode-stack_handle.txt")), handles,
                      on_issue=issues.append))  # fmt: skip
    assert [i.lineno for i in issues] == [1, 21, 41, 61]
    assert "differ from show_stacks_handles" in issues[0].message
