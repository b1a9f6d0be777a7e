"""swap_page_owner parser, on a hand-written sample (tests/data/handwritten/README.md)."""

from pathlib import Path

import pytest

from harness.results.parse import ParseError, iter_swap_page_owner

DATA = Path(__file__).resolve().parent.parent / "data" / "handwritten"


@pytest.fixture(scope="module")
def records():
    with open(DATA / "swap_page_owner.txt") as dump:
        return list(iter_swap_page_owner(dump, strict=True))


def test_records(records):
    assert [r.lineno for r in records] == [1, 19, 37, 52]
    first = records[0]
    assert (first.pid, first.tgid, first.comm, first.ts_nsec) == (231, 231, "dd", 13255313898)
    assert (first.swp_entry, first.swp_type, first.swp_offset) == (0x2E, 0, 0x2E)
    assert first.pages == 1 and first.order == 0 and first.nbytes == 4096
    assert len(first.stack) == 15 and records[1].stack is first.stack
    assert first.handle is None


def test_swap_entry_type_and_offset(records):
    other_device = records[2]
    assert other_device.comm == "Web Content" and other_device.tgid == 1480
    assert (other_device.swp_type, other_device.swp_offset) == (1, 0x12)
    assert records[3].swp_entry == 0


def test_comm_with_parentheses_and_ts(records):
    assert records[3].comm == "x), ts 9 (y"
    assert records[3].ts_nsec == 12000000001


def test_malformed_records():
    text = (
        "Page allocated via pid 1, tgid 1 (init), ts 5 ns\nSWP entry zz\n f+0x1/0x2\n\n"
        "Page allocated via pid 1, tgid 1 (init), ts 5\nSWP entry 0x1\n f+0x1/0x2\n\n"
        "Page allocated via pid 1, tgid 1 (init), ts 6 ns\n f+0x1/0x2\n\n"
        "Page allocated via pid 2, tgid 2 (init), ts 7 ns\nSWP entry 0x3\n f+0x1/0x2\nhandle: 99\n\n"
        "Page allocated via order 0, mask 0x0(), pid 1, tgid 1 (x), ts 1 ns\nPFN 0x1 type A Block 0 type A Flags 0x0()\n"
    )
    issues = []
    records = list(iter_swap_page_owner(text, on_issue=issues.append))
    assert [(i.lineno, i.message) for i in issues] == [
        (2, "malformed 'SWP' line"),
        (5, "malformed 'Page allocated via pid' line"),
        (10, "expected a 'SWP type' line"),
        (18, "expected a 'SWP type' line"),
    ]
    assert [(r.pid, r.swp_entry, r.stack, r.handle) for r in records] == [(2, 3, ("f+0x1/0x2",), 99)]
    with pytest.raises(ParseError, match="line 2"):
        list(iter_swap_page_owner(text, strict=True))


V2 = (
    "Page allocated via order 0, mask 0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), pid 231, tgid 231 (dd), ts 13 ns\n"
    "SWP type 1 offset 0x2e\n f+0x1/0x2\n g+0x3/0x4\n\n"
    "Page allocated via order 0, mask 0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), pid 231, tgid 231 (dd), ts 14 ns\n"
    "SWP type 0 offset 0x2f\nhandle: 7\n\n"
)


def test_second_version_format_with_gfp_mask_swap_type_and_offset():
    first, second = iter_swap_page_owner(V2, strict=True)
    assert (first.pid, first.comm, first.ts_nsec, first.gfp_mask) == (231, "dd", 13, 0x140CCA)
    assert first.gfp_flags == "GFP_HIGHUSER_MOVABLE|__GFP_COMP"
    assert (first.swp_type, first.swp_offset, first.stack) == (1, 0x2E, ("f+0x1/0x2", "g+0x3/0x4"))
    assert (second.swp_type, second.swp_offset, second.handle) == (0, 0x2F, 7)


@pytest.mark.parametrize("bad, message", [
    ("Page allocated via order 2, mask 0x0(), pid 1, tgid 1 (x), ts 1 ns\nSWP type 0 offset 0x1\n f+0x1/0x2\n",
     "one base page"),
    ("Page allocated via order 0, mask 0x0(), pid 1, tgid 1 (x), ts 1 ns\nSWP type 99 offset 0x1\n f+0x1/0x2\n",
     "malformed 'SWP' line"),
    ("Page allocated via order 0, mask 0x0(), pid 1, tgid 1 (x), ts 1 ns\nSWP type 0 offs 0x1\n f+0x1/0x2\n",
     "malformed 'SWP' line"),
])
def test_second_version_malformed_records(bad, message):
    issues = []
    assert list(iter_swap_page_owner(bad, on_issue=issues.append)) == []
    assert message in issues[0].message
