"""harness/selftests/repeat.py on the two khugepaged -s 2 runs of the patched kernel (tests/data/selftests)."""

import argparse
from pathlib import Path

import pytest

from harness.results.parse import ktap
from harness.selftests import catalog, guest, repeat

DATA = Path(__file__).parent.parent / "data" / "selftests"


def _run(name: str) -> guest.ProgramRun:
    text = (DATA / name).read_text()
    program = catalog.load().program("khugepaged-s2")
    return guest.ProgramRun(program, 1, 1.0, text, ktap.parse_text(text, name))


def _labels() -> list[str]:
    return [one.label for one in catalog.load_subtests() if one.program == "khugepaged-s2"]


def test_a_run_that_bailed_out_counts_as_missing_with_its_reason_and_a_failure_with_its_line():
    tallies = repeat.tally([_run("khugepaged-s2-patched-bail.tap"), _run("khugepaged-s2-patched-retry.tap")],
                           _labels())
    swap = tallies["018-collapse_max_ptes_swap"]
    assert (swap.passed, dict(swap.other)) == (0, {"missing": 1, "fail": 1})
    assert dict(swap.why) == {"Unexpected huge page": 1, "Swapout 64 of 512 pages... Fail": 1}
    assert all(tallies[key].passed == 2 for key in list(tallies)[:17])
    # Results after the bail-out ran only in the retry, and passed there.
    assert [(tallies[key].passed, tallies[key].runs) for key in list(tallies)[18:]] == [(1, 2)] * 8


def test_the_report_lists_only_results_that_did_not_always_pass():
    program = catalog.load().program("khugepaged-s2")
    results = {"v7.3": [(program, [_run("khugepaged-s2-patched-retry.tap")])], "patched": [(program, [_run("khugepaged-s2-patched-bail.tap")])]}
    text = repeat.report(results, {"khugepaged-s2": _labels()})
    assert "018-collapse_max_ptes_swap: v7.3 0/1 | patched 0/1" in text
    assert "patched x1: Unexpected huge page" in text
    assert "019-" in text and "017-" not in text
    assert "passed every run on every kernel: 17 of 26" in text


def test_a_kernel_is_named_with_or_without_its_command_line():
    assert repeat.kernel_choice("patched") == ("patched", "selftests-7.3@patched", "page_owner=on,swap")
    assert repeat.kernel_choice("patched:page_owner=on") == ("patched:page_owner=on", "selftests-7.3@patched",
                                                             "page_owner=on")
    with pytest.raises(argparse.ArgumentTypeError, match="the kernels are v7.3, patched"):
        repeat.kernel_choice("v6.12")
