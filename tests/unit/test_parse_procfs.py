"""procfs, sysfs and debugfs counters: recorded on the host (tests/data/host-6.18) and hand-written."""

from pathlib import Path

import pytest

from harness.results.parse import (
    ParseError,
    int_values,
    parse_block_stat,
    parse_free,
    parse_grep_output,
    parse_meminfo,
    parse_mthp_stats,
    parse_swaps,
    parse_vmstat,
    parse_zswap,
    pcp_free_pages,
)

DATA = Path(__file__).resolve().parent.parent / "data"
HOST = DATA / "host-6.18"
HAND = DATA / "handwritten"


def test_meminfo_recorded():
    values = parse_meminfo((HOST / "proc-meminfo.txt").read_text())
    assert len(values) == 54
    assert values["MemTotal"] == 24683656 and "Active(anon)" in values
    assert values["HugePages_Total"] == 0 and values["Hugepagesize"] == 2048


def test_vmstat_recorded():
    values = parse_vmstat((HOST / "proc-vmstat.txt").read_text())
    assert len(values) == 192 and values["nr_free_pages"] > 0
    assert {"pswpin", "pswpout", "swap_ra", "zswpout", "thp_swpout"} <= set(values)


def test_swaps():
    assert parse_swaps((HOST / "proc-swaps.txt").read_text()) == []
    devices = parse_swaps((HAND / "proc-swaps.txt").read_text())
    assert [(d.filename, d.type, d.size_kb, d.used_kb, d.priority) for d in devices] == [
        ("/dev/vdb", "partition", 1048572, 285472, -2),
        ("/swap file", "file", 524284, 0, -3),
        ("/dev/nvme0n1p3", "partition", 33554428, 20971520, 10),
    ]
    assert devices[0].used_mib == pytest.approx(278.78125)


def test_free_recorded():
    free = parse_free((HOST / "free-m.txt").read_text())
    assert free.columns == ("total", "used", "free", "shared", "buff/cache", "available")
    assert free.mem["total"] == 24105 and free.swap == {"total": 0, "used": 0, "free": 0}
    wide = parse_free((HOST / "free-m-w-l-t.txt").read_text())
    assert set(wide.rows) == {"Mem", "Low", "High", "Swap", "Total"}
    assert "buffers" in wide.mem and "cache" in wide.mem


def test_free_other_versions():
    cover = parse_free((HAND / "free-m-cover-letter.txt").read_text())
    assert cover.total_minus_free == 452 and cover.swap["used"] == 278
    old = parse_free((HAND / "free-m-procps3.txt").read_text())
    assert old.rows["-/+ buffers/cache"] == {"used": 5187, "free": 2795}
    assert old.mem["cached"] == 2467


def test_block_stat_recorded():
    stat = parse_block_stat((HOST / "sys-block-vda-stat.txt").read_text())
    assert stat.read_ios > 0 and stat.flush_ios is not None
    assert stat.read_bytes == stat.read_sectors * 512
    old = parse_block_stat("1 2 3 4 5 6 7 8 9 10 11")
    assert (old.time_in_queue, old.discard_ios, old.flush_ticks) == (11, None, None)
    with pytest.raises(ParseError):
        parse_block_stat("1 2 3")


def test_zswap_directory_mapping_and_grep():
    from_dir = parse_zswap(HAND / "zswap")
    assert from_dir["stored_pages"] == 36172 and from_dir["pool_total_size"] == 45092864
    assert len(from_dir) == 11
    grep = "\n".join(f"/sys/kernel/debug/zswap/{name}:{value}" for name, value in from_dir.items())
    assert int_values(parse_grep_output(grep)) == from_dir


def test_mthp_stats_recorded():
    stats = parse_mthp_stats(parse_grep_output((HOST / "mthp-stats-grep.txt").read_text()))
    assert sorted(stats) == [8, 16, 32, 64, 128, 256, 512, 1024, 2048]
    assert set(stats[64]) >= {"swpout", "swpout_fallback", "zswpout", "swpin", "anon_fault_alloc"}


@pytest.mark.parametrize(
    "parser, text, line",
    [
        (parse_meminfo, "MemTotal: 1 kB\nBroken line\n", 2),
        (parse_meminfo, "MemTotal: lots kB\n", 1),
        (parse_vmstat, "nr_free_pages 1\nnr_x\n", 2),
        (parse_swaps, "Filename Type Size Used Priority\n/dev/x partition 1 2\n", 2),
        (parse_free, "total used free\nMem: 1 2 3 4\n", 2),
        (parse_free, "hello\n", 1),
    ],
)
def test_malformed_counters_name_the_line(parser, text, line):
    with pytest.raises(ParseError) as raised:
        parser(text)
    assert raised.value.lineno == line


def test_pcp_free_pages_sums_every_pageset_of_every_zone():
    """/proc/zoneinfo of the debug kernel's guest (1 GiB, 2 vCPUs) right after dd's 256 MiB
    (make test-debug, round trip, page_owner=on boot, 2026-12-08): 25.6 MiB on the pcp lists."""
    text = (DATA / "debug-kernel" / "zoneinfo-after-dd.txt").read_text()
    counts = [int(line.split()[1]) for line in text.splitlines() if line.split()[:1] == ["count:"]]
    assert len(counts) == 2  # DMA32's two cpus: the guest's other zones are empty, without pagesets
    assert pcp_free_pages(text) == sum(counts) == 6559


def test_pcp_free_pages_names_a_malformed_count():
    with pytest.raises(ParseError, match="zoneinfo:2: expected .count: N"):
        pcp_free_pages("  pagesets\n    count: 12 13\n")
