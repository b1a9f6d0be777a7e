"""page_owner_stacks parsers and frame normalisation, on hand-written samples."""

from pathlib import Path

import pytest

from harness.results.parse import (
    ParseError,
    iter_stack_records,
    load_handle_map,
    normalise_frame,
    pages_by_stack,
    parse_count_threshold,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "handwritten"


def read(name):
    return (DATA / name).read_text()


def test_show_stacks():
    records = list(iter_stack_records(read("show_stacks.txt"), strict=True))
    assert [r.nr_base_pages for r in records] == [3, 4, 2, 1, 1, 4, 512]
    assert all(r.handle is None and r.stack for r in records)
    assert records[0].stack[4] == "pte_alloc_one+0x30/0x100"
    totals = pages_by_stack(records)
    assert sum(totals.values()) == 527


def test_show_handles():
    records = list(iter_stack_records(read("show_handles.txt"), strict=True))
    assert [(r.handle, r.nr_base_pages) for r in records][:2] == [(6422583, 3), (117964820, 4)]
    assert all(r.stack == () for r in records)


def test_show_stacks_handles_map():
    handles = load_handle_map(read("show_stacks_handles.txt"), strict=True)
    assert len(handles) == 9
    assert handles[1][0] == "register_dummy_stack+0x2c/0x60"
    assert handles[2228236][5] == "shmem_alloc_folio+0x9a/0xb0"
    assert 8912897 not in handles  # early_handle is never listed


def test_negative_handle_printed_with_percent_d_is_normalised():
    (record,) = iter_stack_records(" f+0x1/0x2\nhandle: -2147483647\n", strict=True)
    assert record.handle == 0x80000001


def test_malformed_entries():
    text = " f+0x1/0x2\nnr_base_pages: many\n\n f+0x1/0x2\n\nnot a frame\n g+0x1/0x2\nhandle: 3\n\n g+0x1/0x2\nhandle: 4\n"
    issues = []
    records = list(iter_stack_records(text, on_issue=issues.append))
    assert [(i.lineno, i.message) for i in issues] == [
        (2, "malformed number"),
        (4, "expected 'handle:' or 'nr_base_pages:'"),
        (6, "expected a stack frame"),
    ]
    assert [r.handle for r in records] == [4]


def test_handle_map_reports_entries_without_handle():
    issues = []
    handles = load_handle_map(" f+0x1/0x2\nnr_base_pages: 3\n", on_issue=issues.append)
    assert handles == {} and "without 'handle:'" in issues[0].message


def test_count_threshold():
    assert parse_count_threshold("7000\n") == 7000
    with pytest.raises(ParseError):
        parse_count_threshold("lots\n")


@pytest.mark.parametrize(
    "line, frame",
    [
        (" post_alloc_hook+0x1ca/0x1f0\n", "post_alloc_hook+0x1ca/0x1f0"),
        ("post_alloc_hook+0x77/0xf0", "post_alloc_hook+0x77/0xf0"),
        ("[<ffffffff811682c4>] __alloc_pages_nodemask+0x134/0x230", "__alloc_pages_nodemask+0x134/0x230"),
        (" xfs_file_read_iter+0x1f0/0x380 [xfs]", "xfs_file_read_iter+0x1f0/0x380 [xfs]"),
        (" foo+0x10/0x20 [mod 0123456789abcdef]", "foo+0x10/0x20 [mod 0123456789abcdef]"),
        (" do_execveat_common.isra.0+0x68/0x240", "do_execveat_common.isra.0+0x68/0x240"),
        (" 0xffffffffc0a01234", "0xffffffffc0a01234"),
        ("Charged to memcg /", None),
        ("nr_base_pages: 3", None),
        ("", None),
    ],
)
def test_normalise_frame(line, frame):
    assert normalise_frame(line) == frame
