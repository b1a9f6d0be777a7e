"""The parsers on real Linux 7.3 dumps (tests/data/real-7.3, see its README for how they were captured)."""

import copy
import json
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import REAL
from test_parse_aggregate import AWK, as_awk_prints, cover_letter_awk

from harness.results.parse import cli as parse_cli
from harness.results.parse import (
    Summary,
    iter_stack_records,
    join_handles,
    join_summary,
    load_handle_map,
    pages_by_stack,
)
from harness.results.parse.records import PAGE_SIZE

ROUND_TRIP_DD = "round-trip/page_owner-dd.txt"
ROUND_TRIP_CAT = "round-trip/page_owner-cat.txt"
TEXT = "modes/page_owner.txt"
HANDLE = "modes/page_owner-mode-handle.txt"
STACK_HANDLE = "modes/page_owner-mode-stack_handle.txt"
STACKS_HANDLES = "modes/show_stacks_handles.txt"
SHOW_STACKS = "modes/show_stacks.txt"
MIB_PAGES = 256
# The modes/ parts were read one after the other by one guest command with nothing
# else running: between two reads only the reader itself (cat, sh, sshd) and the
# odd kernel thread allocate or free. Measured: 13 pages apart by comm, 17 by stack.
READ_NOISE_PAGES = 32


def awk_regex(comm: str) -> str:
    return comm.replace("/", r"\/")


@pytest.mark.skipif(AWK is None, reason="no awk on this machine")
@pytest.mark.parametrize("name", [ROUND_TRIP_DD, ROUND_TRIP_CAT])
def test_totals_and_mib_by_comm_equal_the_cover_letter_awk(name, real_text, real_records):
    summary = Summary(("comm",)).feed(real_records(name))
    path = real_text(name)
    comms = list(dict.fromkeys(["dd", "cat", *(comm for comm, _ in summary.top("comm", 2))]))
    for comm in comms:
        assert re.fullmatch(r"[\w/:.-]+", comm), comm  # else awk would read it as a regex
    with ThreadPoolExecutor(4) as pool:  # one awk process per COMM, side by side
        printed = list(pool.map(lambda comm: cover_letter_awk(path, comm and awk_regex(comm)), [None, *comms]))
    ours = [summary.total_mib, *(summary.mib("comm").get(comm, 0.0) for comm in comms)]
    assert [as_awk_prints(mib) for mib in ours] == printed


def test_round_trip_figures(real_records):
    """The cover letter's Before column, as these dumps hold it."""
    after_dd = Summary(("comm",)).feed(real_records(ROUND_TRIP_DD)).mib("comm")
    after_cat = Summary(("comm",)).feed(real_records(ROUND_TRIP_CAT)).mib("comm")
    assert after_dd["dd"] == pytest.approx(256.648, abs=0.001)
    assert after_dd.get("cat", 0) < 1
    assert after_cat.get("dd", 0) < 256 * 0.1 and after_cat["cat"] > 256 * 0.85


def _difference(a: Summary, b: Summary, dimension: str) -> dict:
    pa, pb = a.pages(dimension), b.pages(dimension)
    return {key: pa.get(key, 0) - pb.get(key, 0) for key in pa.keys() | pb.keys() if pa.get(key, 0) != pb.get(key, 0)}


def test_handle_mode_joined_equals_full_text_of_the_same_state(real_text, real_records):
    text = Summary(("comm", "stack")).feed(real_records(TEXT))
    listed = load_handle_map(real_text(STACKS_HANDLES).read_text(), strict=True)
    joined = Summary(("comm", "stack")).feed(real_records(HANDLE))
    stats = join_summary(joined, listed)

    # Not listed: early_handle (pages allocated before page_owner was up) and stacks
    # whose first allocation could not spin (no __GFP_RECLAIM bit: early boot, slab's
    # opportunistic new_slab), which inc_stack_record_count() never puts on the list.
    early = max(stats.missing, key=lambda handle: stats.missing[handle][1])
    early_stack = next(s for s in text.by["stack"] if isinstance(s, tuple) and s[0].startswith("register_early_stack"))
    assert stats.missing[early] == [2382, 2382] and text.by["stack"][early_stack].pages == 2382
    assert (len(stats.missing), stats.missing_records, stats.missing_pages) == (117, 2650, 2879)
    assert stats.joined == 76643 - 2650

    # The stack_handle dump names every handle's frames: with them the join is complete.
    frames = {record.handle: record.stack for record in real_records(STACK_HANDLE)}
    complete = Summary(("comm", "stack")).feed(real_records(HANDLE))
    assert join_summary(complete, {**frames, **listed}).missing == {}
    by_comm, by_stack = _difference(complete, text, "comm"), _difference(complete, text, "stack")
    assert sum(map(abs, by_comm.values())) <= READ_NOISE_PAGES, by_comm
    assert set(by_comm) <= {"cat", "sh", "sshd", "jbd2/vda-8", "ksoftirqd/0", "kworker/0:1"}, by_comm
    assert sum(map(abs, by_stack.values())) <= READ_NOISE_PAGES
    assert abs(complete.total.pages - text.total.pages) <= READ_NOISE_PAGES
    assert complete.by["comm"]["dd"] == text.by["comm"]["dd"]


def test_remap_after_summarising_equals_joining_records(real_text, real_records):
    listed = load_handle_map(real_text(STACKS_HANDLES).read_text())
    remapped = Summary(("stack",)).feed(real_records(HANDLE))
    join_summary(remapped, listed)
    # join_handles fills records in place: join copies, the session's records stay as parsed.
    joined = Summary(("stack",)).feed(join_handles(map(copy.copy, real_records(HANDLE)), listed))
    assert remapped.by["stack"] == joined.by["stack"]


def test_stack_handle_mode_agrees_with_show_stacks_handles(real_text, real_records):
    listed = load_handle_map(real_text(STACKS_HANDLES).read_text(), strict=True)
    issues = []
    records = list(join_handles(iter(real_records(STACK_HANDLE)), listed, on_issue=issues.append))
    assert issues == []
    checked = sum(record.handle in listed for record in records)
    assert abs(checked - (76633 - 2650)) <= READ_NOISE_PAGES


def test_show_stacks_counts_the_pages_of_each_listed_stack(real_text, real_records):
    shown = pages_by_stack(iter_stack_records(real_text(SHOW_STACKS).read_text(), strict=True))
    joined = Summary(("stack",)).feed(real_records(HANDLE))
    join_summary(joined, load_handle_map(real_text(STACKS_HANDLES).read_text()))
    dumped = {key: pages for key, pages in joined.pages("stack").items() if isinstance(key, tuple)}
    apart = {k: shown.get(k, 0) - dumped.get(k, 0) for k in shown.keys() | dumped.keys()
             if shown.get(k, 0) != dumped.get(k, 0)}  # fmt: skip
    assert sum(map(abs, apart.values())) <= READ_NOISE_PAGES, apart
    dd_stack = max(dumped, key=dumped.get)
    assert shown[dd_stack] == dumped[dd_stack] >= 256 * MIB_PAGES


def run_cli(capsys, *argv):
    code = parse_cli.main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out, err


def test_cli_cull_comm_on_a_compressed_real_dump(capsys, real_records):
    out, err = run_cli(capsys, f"{REAL}/{ROUND_TRIP_CAT}.xz", "--cull", "comm", "--top", "2")
    summary = Summary(("comm",)).feed(real_records(ROUND_TRIP_CAT))
    cat = summary.by["comm"]["cat"]
    lines = out.splitlines()
    assert lines[0] == (f"# page_owner: {summary.total.records} records, {summary.total.pages} pages "
                        f"({summary.total.pages * PAGE_SIZE / 2**20:.3f} MiB)")
    assert lines[1] == f"{cat.records} times, {cat.pages} pages, {cat.mib:.3f} MiB, task_comm_name: cat"
    assert err == ""


def test_cli_joins_a_real_handle_dump(capsys, real_records):
    out, err = run_cli(capsys, f"{REAL}/{HANDLE}.xz", "--stacks-handles", f"{REAL}/{STACKS_HANDLES}.xz",
                       "--cull", "stacktrace", "--top", "1", "--format", "json")
    (top,) = json.loads(out)
    text = Summary(("stack",)).feed(real_records(TEXT))
    (stack, tally), = text.top("stack", 1)
    assert top["stacktrace"] == list(stack) and abs(top["pages"] - tally.pages) <= READ_NOISE_PAGES
    assert "2650 records (2879 pages) carry 117 handle(s) not in show_stacks_handles" in err
