"""page_owner record parser, on hand-written samples (tests/data/handwritten/README.md)."""

import gzip
import io
from pathlib import Path

import pytest

from harness.results.parse import (
    AnonOwner,
    FileOwner,
    Memcg,
    ParseError,
    SlabOwner,
    StackInterner,
    iter_page_owner,
)
from harness.results.parse.page_owner_lines import parse_header

DATA = Path(__file__).resolve().parent.parent / "data" / "handwritten"
STACK_MODE = DATA / "page_owner-7.3-mode-stack.txt"


def parse_file(name, **options):
    with open(DATA / name, encoding="utf-8") as dump:
        return list(iter_page_owner(dump, **options))


@pytest.fixture(scope="module")
def records():
    return parse_file(STACK_MODE.name, strict=True)


def test_every_record_of_the_7_3_sample(records):
    assert [r.lineno for r in records] == [1, 20, 39, 58, 77, 93, 110, 126, 142, 149]
    assert [r.comm for r in records] == [
        "dd", "dd", "dd", "DD", "cat", "Web Content", "(sd-pam)", "x), ts 9 (y", "swapper/0", "kworker/u8:1",
    ]  # fmt: skip
    assert sum(r.pages for r in records) == 4 + 1 + 512 + 2 + 1 + 1 + 4


def test_header_fields(records):
    first = records[0]
    assert (first.order, first.gfp_mask, first.gfp_flags) == (0, 0x140CCA, "GFP_HIGHUSER_MOVABLE|__GFP_COMP")
    assert (first.pid, first.tgid, first.ts_nsec, first.swapped) == (231, 231, 13255570102, False)
    assert first.gfp_flag_names == ("GFP_HIGHUSER_MOVABLE", "__GFP_COMP")
    thread = records[5]
    assert (thread.pid, thread.tgid, thread.order, thread.pages) == (1500, 1480, 9, 512)


def test_swapped_marker(records):
    assert [r.lineno for r in records if r.swapped] == [20]
    assert records[1].ts_nsec == 13255427451


def test_pfn_line(records):
    first = records[0]
    assert (first.pfn, first.page_mt, first.block, first.block_mt) == (0xA35B, "Movable", 81, "Movable")
    assert first.page_flags == 0x10000000002003C
    assert first.page_flag_names == ("referenced", "uptodate", "dirty", "lru", "swapbacked", "node=0", "zone=1")
    early = records[8]
    assert (early.gfp_mask, early.gfp_flags, early.gfp_flag_names) == (0, "", ())


def test_stack_frames_are_normalised_and_interned(records):
    dd = records[0]
    assert dd.stack[0] == "post_alloc_hook+0x1ca/0x1f0"
    assert dd.stack[-1] == "entry_SYSCALL_64_after_hwframe+0x77/0x7f"
    assert len(dd.stack) == 15
    # One tuple per distinct stack, however many records share it.
    assert records[1].stack is dd.stack and records[3].stack is dd.stack
    assert "xfs_buf_alloc_pages+0x84/0x1f0 [xfs]" in records[9].stack
    assert records[8].stack == (
        "register_early_stack+0x2c/0x60",
        "init_page_owner+0x2f/0x3a0",
        "page_ext_init+0x170/0x190",
        "mm_core_init+0x1e/0x40",
    )
    assert all(r.handle is None for r in records)


def test_migrated_and_memcg_lines(records):
    thp = records[5]
    assert thp.migrate_reason == "compaction"
    assert thp.memcg == Memcg("firefox.scope", via_objcg=False, offline=True)
    assert records[0].memcg == Memcg("session-1.scope")
    assert records[7].memcg == Memcg("system.slice", via_objcg=True)
    slab = records[6]
    assert slab.memcg is None and slab.slab_cache and slab.memcg_key == "(slab cache page)"
    assert records[8].memcg is None and records[8].memcg_key is None
    assert [r.migrate_reason for r in records].count(None) == 9


def test_comm_with_spaces_and_parentheses(records):
    assert records[5].comm == "Web Content"
    assert records[6].comm == "(sd-pam)"
    tricky = records[7]
    assert tricky.comm == "x), ts 9 (y"
    assert tricky.ts_nsec == 12000000001


@pytest.mark.parametrize(
    "line, expected",
    [
        (
            "Page allocated via order 0, mask 0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), pid 231, tgid 231 (dd), "
            "ts 13255427451 ns (swapped)",
            (0, 0x140CCA, "GFP_HIGHUSER_MOVABLE|__GFP_COMP", 231, 231, "dd", 13255427451, True),
        ),
        (
            "Page allocated via order 3, mask 0xcc0(GFP_KERNEL), pid 9, tgid 8 (a (b) c), ts 1 ns",
            (3, 0xCC0, "GFP_KERNEL", 9, 8, "a (b) c", 1, False),
        ),
        (
            "Page allocated via order 1, mask 0x2a20(GFP_ATOMIC|__GFP_NOWARN), pid 642, tgid 640 (Xorg:cs0), "
            "ts 98760012345 ns, free_ts 98750000000 ns",
            (1, 0x2A20, "GFP_ATOMIC|__GFP_NOWARN", 642, 640, "Xorg:cs0", 98760012345, False),
        ),
        (
            "Page allocated via order 0, mask 0x24200ca(GFP_HIGHUSER_MOVABLE)",
            (0, 0x24200CA, "GFP_HIGHUSER_MOVABLE", None, None, None, None, False),
        ),
    ],
)
def test_header_variants(line, expected):
    assert parse_header(line) == expected


def test_owner_lines_of_the_rfc():
    records = parse_file("page_owner-owner-lines-rfc.txt", strict=True)
    assert [type(r.owner) for r in records] == [SlabOwner, SlabOwner, FileOwner, AnonOwner, FileOwner]
    assert records[0].owner == SlabOwner("kmalloc-32")
    assert records[1].owner == SlabOwner("mm_struct") and records[1].order == 3
    assert records[2].owner == FileOwner(253, 0, 1954, 0xC1, 1, 2, 0x4C2000, 0x4C3000)
    assert records[3].owner == AnonOwner(0x4C4000)
    assert records[4].owner == FileOwner(253, 0, 1954, 0xC2, 0, 1)
    # Frames without the leading space (as the cover letter prints them).
    assert records[0].stack[0] == "post_alloc_hook+0x77/0xf0" and len(records[0].stack) == 16
    assert records[2].memcg == Memcg("/")


def test_old_kernel_formats():
    records = parse_file("page_owner-old-kernels.txt", strict=True)
    oldest, pid_only, with_free_ts = records
    assert (oldest.pid, oldest.comm, oldest.ts_nsec, oldest.pfn) == (None, None, None, 628753)
    assert oldest.stack[0] == "__alloc_pages_nodemask+0x134/0x230"  # [<addr>] dropped
    assert oldest.migrate_reason == "compaction"
    assert (pid_only.pid, pid_only.tgid, pid_only.ts_nsec) == (1, None, 2331270548)
    assert (with_free_ts.pid, with_free_ts.tgid, with_free_ts.comm) == (642, 640, "Xorg:cs0")
    assert with_free_ts.stack[5] == "drm_gem_object_init+0x2b/0x70 [drm]"


def test_handle_and_stack_handle_modes():
    handle_only = parse_file("page_owner-7.3-mode-handle.txt", strict=True)
    assert len(handle_only) == 10
    assert all(r.stack is None for r in handle_only)
    assert handle_only[0].handle == 2228236
    assert handle_only[5].migrate_reason == "compaction" and handle_only[5].memcg.offline
    both = parse_file("page_owner-7.3-mode-stack_handle.txt", strict=True)
    assert [r.handle for r in both] == [2228236] * 4
    assert all(len(r.stack) == 15 for r in both)


def test_malformed_records_are_reported_with_their_line_and_skipped():
    issues = []
    records = parse_file("page_owner-malformed.txt", on_issue=issues.append)
    assert [r.lineno for r in records] == [1, 37]
    assert [(i.lineno, i.message) for i in issues] == [
        (6, "malformed 'Page allocated via order' line"),
        (11, "expected a 'PFN' line"),
        (15, "expected a stack frame"),
        (21, "malformed memcg line"),
        (23, "expected a 'Page allocated via order' line"),
        (27, "malformed handle line"),
        (29, "order 99 out of range"),
        (34, "malformed PFN line"),
    ]
    assert issues[2].line == "this is not a frame"
    assert records[1].stack == ("shmem_alloc_folio+0x9a/0xb0",)  # the last line has no newline


def test_strict_mode_raises_on_the_first_malformed_record():
    with pytest.raises(ParseError) as raised:
        parse_file("page_owner-malformed.txt", strict=True)
    assert raised.value.lineno == 6
    assert "line 6" in str(raised.value)


def test_issues_go_to_the_log_without_a_callback(caplog):
    records = parse_file("page_owner-malformed.txt")
    assert len(records) == 2
    assert "line 23: expected a 'Page allocated via order' line" in caplog.text


def test_last_record_without_trailing_blank_line(records):
    text = STACK_MODE.read_text()
    assert not text.endswith("\n\n")
    assert records[-1].comm == "kworker/u8:1" and len(records[-1].stack) == 13
    no_newline = list(iter_page_owner(text.rstrip("\n")))
    assert no_newline[-1].stack == records[-1].stack


def sources(text: str):
    """The same dump as every kind of source the parsers accept."""
    lines = text.splitlines(keepends=True)
    yield "str", text
    yield "bytes", text.encode()
    yield "text file", io.StringIO(text)
    yield "binary file", io.BytesIO(text.encode())
    yield "lines with newline", iter(lines)
    yield "lines without newline", [line.rstrip("\n") for line in lines]
    yield "byte lines", [line.encode() for line in lines]
    yield "CRLF", text.replace("\n", "\r\n").encode()
    yield "tiny chunks", _Trickle(text.encode(), 7)
    yield "gzip", gzip.GzipFile(fileobj=io.BytesIO(gzip.compress(text.encode())))
    yield "extra blank lines", text.replace("\n\n", "\n\n\n\n")


class _Trickle:
    """A reader that returns a few bytes per read(), like a slow SSH channel."""

    def __init__(self, data: bytes, step: int):
        self.data, self.step = data, step

    def read(self, size: int = -1) -> bytes:
        chunk, self.data = self.data[: self.step], self.data[self.step :]
        return chunk


@pytest.mark.parametrize("name", ["page_owner-7.3-mode-stack.txt", "page_owner-malformed.txt"])
def test_every_kind_of_source_gives_the_same_records(name):
    text = (DATA / name).read_text()
    expected = None
    for kind, source in sources(text):
        issues = []
        records = list(iter_page_owner(source, on_issue=issues.append))
        got = ([(r.comm, r.order, r.ts_nsec, r.stack, r.memcg) for r in records], [i.message for i in issues])
        if kind != "extra blank lines":  # line numbers shift there, the records do not
            got = (got[0], got[1], [r.lineno for r in records], [i.lineno for i in issues])
        if expected is None:
            expected = got
        assert got[:2] == expected[:2], kind
        if len(got) == 4:
            assert got == expected, kind


def test_multibyte_comm_split_across_reads():
    text = "Page allocated via order 0, mask 0xcc0(GFP_KERNEL), pid 5, tgid 5 (ünïcødé), ts 7 ns\n" \
           "PFN 0x10 type Unmovable Block 0 type Unmovable Flags 0x0()\n func+0x1/0x2\n"  # fmt: skip
    for step in (1, 2, 3, 5):
        (record,) = iter_page_owner(_Trickle(text.encode(), step), strict=True)
        assert record.comm == "ünïcødé"


def test_shared_interner_across_dumps():
    interner = StackInterner()
    first = parse_file(STACK_MODE.name, interner=interner)
    second = parse_file("page_owner-7.3-mode-stack_handle.txt", interner=interner)
    assert second[0].stack is first[0].stack
    assert len(interner) == 7


def test_unknown_trailing_line_is_kept_as_extra():
    text = STACK_MODE.read_text().split("\n\n")[0] + "\nSome future line: 42\n"
    (record,) = iter_page_owner(text, strict=True)
    assert record.extra == ("Some future line: 42",)
    assert len(record.stack) == 15
