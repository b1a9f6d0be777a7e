"""Aggregations: pages and MiB by key, checked against the cover letter's awk one-liner."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.results.parse import (
    Summary,
    iter_page_owner,
    iter_swap_page_owner,
    mib_by_comm,
    mib_by_gfp_flag,
    mib_by_memcg,
    mib_by_migratetype,
    mib_by_pid,
    mib_by_stack,
    mib_by_swapped,
    mib_by_tgid,
    select,
    summarise,
    total_mib,
)
from harness.results.parse.synthetic import SyntheticDump

DATA = Path(__file__).resolve().parent.parent / "data" / "handwritten"
STACK_MODE = DATA / "page_owner-7.3-mode-stack.txt"
MIB_PER_PAGE = 4096 / 1024**2

AWK = shutil.which("gawk") or shutil.which("awk")


def cover_letter_awk(path: Path, comm: str | None) -> str:
    """The cover letter's one-liner, verbatim but for the COMM substitution."""
    pattern = r"/^Page allocated/" if comm is None else r"/^Page allocated .* \(" + comm + r"\)/"
    program = pattern + r""" { PAGES+=2^$5 } END { print PAGES*4096/1024^2 " MiB" }"""
    result = subprocess.run([AWK, "-F", "[ ,]", program, str(path)], capture_output=True, text=True, check=True)
    return result.stdout.strip()


def as_awk_prints(mib: float) -> str:
    return f"{mib:.6g} MiB"  # awk's OFMT is %.6g


@pytest.mark.skipif(AWK is None, reason="no awk on this machine")
@pytest.mark.parametrize("comm", ["dd", "DD", "cat", "Web Content", "kworker/u8:1", None])
def test_mib_by_comm_equals_the_cover_letter_awk(comm):
    with open(STACK_MODE) as dump:
        ours = mib_by_comm(dump).get(comm, 0.0) if comm else total_mib(dump)
    assert as_awk_prints(ours) == cover_letter_awk(STACK_MODE, comm.replace("/", r"\/") if comm else None)


@pytest.mark.skipif(AWK is None, reason="no awk on this machine")
def test_awk_agreement_on_a_large_synthetic_dump(tmp_path):
    path = tmp_path / "page_owner.txt"
    with open(path, "w") as out:
        SyntheticDump(seed=7).write(out, 4 << 20)
    with open(path) as dump:
        by_comm = mib_by_comm(dump)
    with open(path) as dump:
        assert as_awk_prints(total_mib(dump)) == cover_letter_awk(path, None)
    for comm in by_comm:
        if re.fullmatch(r"[\w/:.]+", comm):  # awk would read other comms as a regex
            assert as_awk_prints(by_comm[comm]) == cover_letter_awk(path, comm.replace("/", r"\/")), comm


def test_summary_dimensions():
    with open(STACK_MODE) as dump:
        summary = summarise(dump, strict=True)
    assert (summary.total.records, summary.total.pages) == (10, 525)
    assert summary.pages("comm") == {
        "dd": 3, "DD": 1, "cat": 1, "Web Content": 512, "(sd-pam)": 2, "x), ts 9 (y": 1,
        "swapper/0": 1, "kworker/u8:1": 4,
    }  # fmt: skip
    assert summary.pages("pid")[1500] == 512 and summary.pages("tgid")[1480] == 512
    assert summary.pages("swapped") == {False: 524, True: 1}
    assert summary.pages("migratetype") == {"Movable": 517, "Unmovable": 8}
    assert summary.pages("memcg") == {
        "session-1.scope": 5, "firefox.scope": 512, "(slab cache page)": 2, "system.slice": 1, None: 5,
    }  # fmt: skip
    gfp = summary.pages("gfp_flag")
    assert gfp["__GFP_COMP"] == 3 + 1 + 1 + 2 + 4 and gfp["GFP_TRANSHUGE"] == 512
    stacks = summary.by["stack"]
    assert len(stacks) == 7
    (dd_stack,) = [s for s in stacks if "shmem_alloc_folio+0x9a/0xb0" in s]
    assert (stacks[dd_stack].records, stacks[dd_stack].pages) == (4, 4)
    top_key, top = summary.top("comm", 1)[0]
    assert top_key == "Web Content" and top.mib == 2.0


def test_convenience_functions():
    text = STACK_MODE.read_text()
    assert mib_by_comm(text)["dd"] == 3 * MIB_PER_PAGE
    assert mib_by_pid(text)[231] == 3 * MIB_PER_PAGE
    assert mib_by_tgid(text)[1480] == 2.0
    assert mib_by_swapped(text)[True] == MIB_PER_PAGE
    assert mib_by_memcg(text)["firefox.scope"] == 2.0
    assert mib_by_migratetype(text)["Unmovable"] == 8 * MIB_PER_PAGE
    assert mib_by_gfp_flag(text)["GFP_KERNEL_ACCOUNT"] == MIB_PER_PAGE
    assert max(mib_by_stack(text).values()) == 2.0
    assert total_mib(text) == 525 * MIB_PER_PAGE
    assert total_mib("") == 0.0


def test_swap_page_owner_counts_one_page_per_record():
    text = (DATA / "swap_page_owner.txt").read_text()
    assert mib_by_comm(text) == {"dd": 2 * MIB_PER_PAGE, "Web Content": MIB_PER_PAGE, "x), ts 9 (y": MIB_PER_PAGE}
    summary = summarise(text)
    assert summary.pages("swapped") == {True: 4}
    assert summary.pages("memcg") == {None: 4}


def test_show_stacks_summary():
    summary = summarise((DATA / "show_stacks.txt").read_text(), dimensions=("stack",))
    assert summary.total.pages == 527 and len(summary.by["stack"]) == 7
    with pytest.raises(ValueError):
        summarise((DATA / "show_stacks.txt").read_text())


def test_filters_like_page_owner_sort():
    text = STACK_MODE.read_text()
    assert total_mib(text, where=select(comms=["dd", "DD"])) == 4 * MIB_PER_PAGE
    assert total_mib(text, where=select(pids=[231], tgids=[231])) == 3 * MIB_PER_PAGE
    assert select() is None


def test_memory_is_bounded_by_distinct_keys():
    records = list(iter_page_owner(STACK_MODE.read_text() * 1))
    summary = Summary(("stack", "comm"))
    for _ in range(50):
        summary.feed(records)
    assert summary.total.records == 500 and len(summary.by["stack"]) == 7 and len(summary.by["comm"]) == 8


def test_feeding_twice_adds_up():
    text = (DATA / "swap_page_owner.txt").read_text()
    summary = Summary(("comm",)).feed(iter_swap_page_owner(text)).feed(iter_swap_page_owner(text))
    assert summary.pages("comm")["dd"] == 4


def test_unknown_dimension():
    with pytest.raises(ValueError):
        Summary(("colour",))
