"""Cross-check with the kernel's own tools/mm/page_owner_sort, built from the cached 7.3 tree.

Compared where page_owner_sort is right: real 7.3 dumps, which end in a blank
line and whose comms fit its 16-byte buffer. Its culls by stacktrace are not
compared: its "stack" is everything after the first line, memcg lines included.
"""

import re
import subprocess
from pathlib import Path

import pytest

from harness.results.page_owner_sort import build_page_owner_sort
from harness.results.parse import cli as parse_cli
from harness.results.parse import iter_page_owner, iter_swap_page_owner
from harness.results.parse.grouping import cull

ROUND_TRIP_DD = "round-trip/page_owner-dd.txt"
ROUND_TRIP_CAT = "round-trip/page_owner-cat.txt"
HANDLE = "modes/page_owner-mode-handle.txt"
GROUP_HEAD = re.compile(r"(\d+) times, (\d+) pages(.*)")


@pytest.fixture(scope="session")
def page_owner_sort(kernel_tree, tmp_path_factory) -> Path:
    return build_page_owner_sort(kernel_tree, tmp_path_factory.mktemp("page_owner_sort"))


def sort_with(binary: Path, dump: Path, out: Path, *options: str) -> tuple[str, int]:
    """page_owner_sort's output file (None if it wrote none) and how many records it loaded."""
    result = subprocess.run([str(binary), *options, str(dump), str(out)], capture_output=True, text=True)
    loaded = re.findall(r"loaded (\d+)\n", result.stdout)
    return (out.read_text() if out.exists() else None), int(loaded[-1]) if loaded else 0


def text_groups(output: str) -> dict[str, tuple[int, int]]:
    """Default (no --cull) output of page_owner_sort or `mmharness parse`: record text -> (times, pages)."""
    groups = {}
    for block in output.split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith("# ")]
        if not lines:
            continue
        times, pages, _ = GROUP_HEAD.match(lines[0]).groups()
        # page_owner_sort blanks the timestamp's digits, `mmharness parse` leaves the field out.
        text = "\n".join([re.sub(r", ts\s*ns", "", lines[1]), *lines[2:]])
        assert text not in groups
        groups[text] = (int(times), int(pages))
    return groups


def test_default_grouping_equals_page_owner_sort(page_owner_sort, real_text, tmp_path, capsys):
    dump = real_text(ROUND_TRIP_CAT)
    theirs, loaded = sort_with(page_owner_sort, dump, tmp_path / "sorted.txt")
    assert parse_cli.main([str(dump)]) == 0
    ours = capsys.readouterr().out
    assert loaded == 72272
    assert text_groups(ours) == text_groups(theirs)


def test_cull_by_pid_tgid_and_name_equals_page_owner_sort(page_owner_sort, real_text, real_records, tmp_path):
    name = HANDLE  # the same header lines as full text; page_owner_sort takes `handle: N` for the stack
    theirs, loaded = sort_with(page_owner_sort, real_text(name), tmp_path / "culled.txt", "--cull", "pid,tgid,name")
    expected = {}
    for line in theirs.splitlines():
        times, pages, rest = GROUP_HEAD.match(line).groups()
        pid, tgid, comm = re.fullmatch(r", PID (\d+), TGID (\d+), task_comm_name: (.*)", rest).groups()
        expected[(int(pid), int(tgid), comm)] = (int(times), int(pages))
    records = real_records(name)
    assert loaded == len(records)
    assert {group.key: (group.times, group.pages) for group in cull(records, ("pid", "tgid", "comm"))} == expected


def real_records_text(path: Path, count: int) -> str:
    """The first `count` records of a real dump, each ending in its blank line."""
    return "".join(f"{record}\n\n" for record in path.read_text().split("\n\n")[:count])


def test_page_owner_sort_loses_what_the_parser_keeps(page_owner_sort, real_text, tmp_path):
    head = real_records_text(real_text(ROUND_TRIP_DD), 200)
    # 1. A dump cut without its last blank line (a `head -n`, a file saved by hand).
    cut = tmp_path / "cut.txt"
    cut.write_text(head.rstrip("\n") + "\n")
    _, loaded = sort_with(page_owner_sort, cut, tmp_path / "cut.sorted")
    assert loaded == 199, "page_owner_sort drops the last record"
    assert len(list(iter_page_owner(cut.read_text(), strict=True))) == 200
    # 2. A comm of 16 characters or more: impossible on 7.3 (TASK_COMM_LEN is 16), so
    # an edited real record; page_owner_sort reports "Out of memory" and writes nothing.
    long_comm = tmp_path / "long-comm.txt"
    assert head.startswith("Page allocated via order 0, mask 0x0(), pid 0, tgid 0 (swapper), ")
    long_comm.write_text(head.replace("(swapper)", "(swapper-sixteen-plus)", 1))
    output, _ = sort_with(page_owner_sort, long_comm, tmp_path / "long.sorted")
    assert output is None
    comms = {record.comm for record in iter_page_owner(long_comm.read_text(), strict=True)}
    assert "swapper-sixteen-plus" in comms


# The series' own page_owner_sort patch, on swap_page_owner as the v2 series prints it.
SWAP_V2 = "swap-v2/DD-swap_page_owner.txt"
SORT_PATCH = "patches/page-owner-swap/0009-tools-mm-page_owner_sort-read-swap_page_owner-record.patch"


@pytest.fixture(scope="session")
def series_page_owner_sort(kernel_tree, tmp_path_factory) -> Path:
    patch = Path(__file__).resolve().parents[2] / SORT_PATCH
    return build_page_owner_sort(kernel_tree, tmp_path_factory.mktemp("page_owner_sort_series"), (patch,))


def test_series_page_owner_sort_groups_swap_page_owner_like_the_parser(
        page_owner_sort, series_page_owner_sort, real_text, tmp_path, capsys):
    dump = real_text(SWAP_V2)
    records = list(iter_swap_page_owner(dump.read_text(), strict=True))
    theirs, loaded = sort_with(series_page_owner_sort, dump, tmp_path / "sorted.txt")
    assert loaded == len(records) > 60000
    assert parse_cli.main([str(dump)]) == 0
    ours = capsys.readouterr().out
    assert text_groups(ours) == text_groups(theirs)
    assert len(text_groups(theirs)) < 200, "dd's records merge into a few groups"
    # Without the patch, the SWP line stays in each record's text: nothing merges.
    unpatched, _ = sort_with(page_owner_sort, dump, tmp_path / "unpatched.txt")
    assert len(text_groups(unpatched)) == len(records)
