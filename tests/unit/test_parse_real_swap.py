"""The parsers on real dumps of the patched 7.3 kernel with page_owner=on,swap.

tests/data/real-7.3/swap/ and zswap/ were captured by capture_swap.py (see
tests/data/real-7.3/README.md): dd's 256 MiB tmpfs file in swap ("DD-*"),
then read back by cat ("cat-*"); and the same pushed through zswap.
"""

import functools
import json
import lzma
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from conftest import REAL
from test_parse_aggregate import AWK, as_awk_prints

from harness.results.parse import cli as parse_cli
from harness.results.parse import (
    Summary,
    iter_page_owner,
    iter_stack_records,
    iter_swap_page_owner,
    load_handle_map,
    pages_by_stack,
    parse_block_stat,
    parse_free,
    parse_grep_output,
    parse_meminfo,
    parse_mthp_stats,
    parse_swaps,
    parse_vmstat,
    parse_zswap,
    summarise,
)

SWAP = REAL / "swap"
ZSWAP = REAL / "zswap"
FILE_PAGES = 256 * 256
PAGES_PER_MIB = 256
# Between two reads of one guest command only the readers (sh, cat, dd, sshd) allocate or free.
READ_NOISE_PAGES = 32


def text(path: Path) -> str:
    if path.suffix == ".xz":
        with lzma.open(path, "rt") as dump:
            return dump.read()
    return path.read_text()


@functools.cache
def dump(directory: Path, name: str) -> str:
    compressed = directory / f"{name}.txt.xz"
    return text(compressed if compressed.exists() else directory / f"{name}.txt")


@pytest.fixture(scope="module")
def swap_records():
    return list(iter_swap_page_owner(dump(SWAP, "DD-swap_page_owner"), strict=True))


@pytest.fixture(scope="module")
def cat_records():
    """The page_owner dump after cat read dd's file back, parsed once for the module."""
    return list(iter_page_owner(dump(SWAP, "cat-page_owner"), strict=True))


@pytest.fixture(scope="module")
def after_cat(cat_records):
    return Summary(("comm", "swapped", "stack")).feed(cat_records)


def test_swap_page_owner_holds_dds_file_while_it_is_in_swap(swap_records):
    by_comm = Counter(record.comm for record in swap_records)
    assert by_comm["dd"] >= FILE_PAGES * 0.97
    # One record per allocated swap entry: as many as /proc/swaps says are used.
    used_kb = parse_swaps(dump(SWAP, "DD-proc-swaps"))[0].used_kb
    assert abs(len(swap_records) - used_kb // 4) <= READ_NOISE_PAGES
    assert parse_free(dump(SWAP, "DD-free-m")).swap["used"] == pytest.approx(len(swap_records) / PAGES_PER_MIB, abs=1)
    assert dump(SWAP, "DD-swap_page_owner_lost").strip() == "0"


def test_swap_entries_are_unique_and_on_the_one_swap_device(swap_records):
    entries = [record.swp_entry for record in swap_records]
    assert len(set(entries)) == len(entries)
    assert {record.swp_type for record in swap_records} == {0}
    assert entries == sorted(entries), "the file is read in swap entry order"
    assert max(record.swp_offset for record in swap_records) < 1048572 // 4


def test_records_keep_the_allocation_stack_not_the_swap_out_path(swap_records):
    stacks = Counter(record.stack for record in swap_records if record.comm == "dd")
    stack, pages = stacks.most_common(1)[0]
    assert pages >= FILE_PAGES * 0.97
    assert any(frame.startswith("shmem_write_begin+") for frame in stack)
    assert not any(frame.startswith(("shrink_", "swap_writeout", "kswapd")) for frame in stack)


@pytest.mark.skipif(AWK is None, reason="no awk on this machine")
def test_swap_page_owner_total_equals_the_cover_letter_awk(tmp_path, swap_records):
    path = tmp_path / "swap_page_owner.txt"
    path.write_text(dump(SWAP, "DD-swap_page_owner"))
    program = r"""/^Page allocated/ { PAGES+=1 } END { print PAGES*4096/1024^2 " MiB" }"""
    printed = subprocess.run([AWK, "-F", "[ ,]", program, str(path)], capture_output=True, text=True,
                             check=True).stdout.strip()
    assert printed == as_awk_prints(Summary(()).feed(swap_records).total_mib)
    assert printed == as_awk_prints(len(swap_records) / PAGES_PER_MIB)


def test_after_swap_in_dd_keeps_its_pages_marked_swapped(after_cat):
    by_comm = after_cat.mib("comm")
    assert by_comm["dd"] >= 256 * 0.99 and by_comm.get("cat", 0) < 1
    assert after_cat.mib("swapped")[True] == pytest.approx(250.46, abs=0.01)
    records = dump(SWAP, "cat-page_owner").split("\n\n")
    marked = [record for record in records if record.startswith("Page allocated") and
              record.split("\n", 1)[0].endswith(" (swapped)")]
    assert len(marked) == after_cat.by["swapped"][True].records
    assert all("(dd)" in record.split("\n", 1)[0] for record in marked[:1000])


def test_handle_mode_after_swap_in_agrees_with_full_text(after_cat):
    handles = load_handle_map(dump(SWAP, "cat-show_stacks_handles"))
    fast = summarise(dump(SWAP, "cat-page_owner-mode-handle"), dimensions=("comm", "swapped"), handles=handles)
    assert fast.pages("swapped")[True] == after_cat.pages("swapped")[True]
    assert fast.pages("comm")["dd"] == after_cat.pages("comm")["dd"]


def test_stack_counts_balance_memory_plus_swap(swap_records):
    """nr_base_pages of every stack = its pages in memory + its records in swap (the refcount design)."""
    handles = load_handle_map(dump(SWAP, "DD-show_stacks_handles"))
    in_memory = summarise(dump(SWAP, "DD-page_owner-mode-handle"), dimensions=("stack",), handles=handles)
    in_swap = Summary(("stack",)).feed(swap_records)
    counted = pages_by_stack(iter_stack_records(dump(SWAP, "DD-show_stacks")))
    apart = {stack: in_memory.pages("stack").get(stack, 0) + in_swap.pages("stack").get(stack, 0) - pages
             for stack, pages in counted.items()}
    dd_stack = max(in_swap.pages("stack"), key=in_swap.pages("stack").get)
    assert apart[dd_stack] == 0 and in_swap.pages("stack")[dd_stack] >= FILE_PAGES * 0.97
    assert sum(map(abs, apart.values())) <= READ_NOISE_PAGES
    # After swap-in the stack counts dd's file once, and the records are gone.
    back = pages_by_stack(iter_stack_records(dump(SWAP, "cat-show_stacks")))
    assert FILE_PAGES <= back[dd_stack] <= FILE_PAGES + READ_NOISE_PAGES
    leftover = list(iter_swap_page_owner(dump(SWAP, "cat-swap_page_owner"), strict=True))
    assert not [record for record in leftover if record.comm == "dd"]


def test_zero_filled_pages_never_reach_the_disk():
    """The cover letter's /dev/zero file goes out as zero-filled swap entries on 7.3."""
    vmstat = parse_vmstat(dump(SWAP, "DD-proc-vmstat"))
    assert vmstat["swpout_zero"] >= FILE_PAGES * 0.97 and vmstat["pswpout"] < 1024
    back = parse_vmstat(dump(SWAP, "cat-proc-vmstat"))
    assert back["swpin_zero"] >= FILE_PAGES * 0.97 and back["pswpin"] < 1024
    assert parse_meminfo(dump(SWAP, "DD-proc-meminfo"))["SwapFree"] < 1048572 - 250 * 1024


def test_zswap_counters_of_a_pattern_file_in_zswap():
    files = {path.name.removeprefix("zswap-debugfs-").removesuffix(".txt"): path.read_text()
             for path in ZSWAP.glob("zswap-debugfs-*.txt")}
    counters = parse_zswap(files)
    assert counters["stored_pages"] >= FILE_PAGES * 0.97
    assert counters["pool_total_size"] < counters["stored_pages"] * 4096 / 10, "the pattern compresses well"
    assert counters["written_back_pages"] == counters["reject_compress_fail"] == 0
    vmstat = parse_vmstat(dump(ZSWAP, "zswap-proc-vmstat"))
    assert vmstat["zswpout"] >= counters["stored_pages"] and vmstat["pswpout"] == 0
    records = list(iter_swap_page_owner(dump(ZSWAP, "zswap-swap_page_owner"), strict=True))
    assert Counter(record.comm for record in records)["dd"] >= FILE_PAGES * 0.97
    stat = parse_block_stat(dump(ZSWAP, "zswap-sys-block-vdb-stat"))
    assert stat.write_sectors < 64, "no page was written to the swap disk (mkswap/swapon only)"
    mthp = parse_mthp_stats(parse_grep_output(dump(ZSWAP, "zswap-mthp-stats-grep")))
    assert 64 in mthp and all(size.get("zswpout", 0) == 0 for size in mthp.values()), "order-0 pages only"


def test_migrated_and_memcg_lines_of_real_records(cat_records):
    raw, records = dump(SWAP, "cat-page_owner"), cat_records
    migrated = Counter(record.migrate_reason for record in records if record.migrate_reason)
    assert migrated == {"compaction": raw.count("Page has been migrated, last migrate reason: compaction\n")}
    assert migrated["compaction"] > 100
    charged = Counter(record.memcg_key for record in records if record.memcg is not None)
    assert charged == {"/": raw.count("Charged to memcg /\n")}


def test_cli_on_real_swap_dumps(tmp_path, capsys):
    # In process: test_parse_cli runs `python -m harness.results.parse` itself.
    out = tmp_path / "out.json"
    assert parse_cli.main([str(SWAP / "cat-page_owner.txt.xz"), "--cull", "comm,swapped", "--top", "1"]) == 0
    assert "64118 times, 64118 pages, 250.461 MiB, task_comm_name: dd, swapped" in capsys.readouterr().out
    assert parse_cli.main([str(SWAP / "DD-swap_page_owner.txt.xz"), "--cull", "comm", "--format", "json",
                           "-o", str(out)]) == 0
    groups = {group["comm"]: group for group in json.loads(out.read_text())}
    assert groups["dd"]["pages"] == 63937 and groups["sshd"]["pages"] == 257
