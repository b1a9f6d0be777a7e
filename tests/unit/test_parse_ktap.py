"""harness.results.parse.ktap on real output: the swap selftests as the guest printed
them (tests/data/selftests/*.tap) and the kernel tree's own KUnit golden logs
(tests/data/selftests/kunit/, nested KTAP)."""

from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.results.parse import ktap

DATA = Path(__file__).resolve().parent.parent / "data" / "selftests"


def parsed(name: str) -> ktap.Run:
    path = DATA / name
    return ktap.parse(path.read_text().splitlines(), str(path))


def test_cow_prints_640_numbered_results_each_after_its_run_line():
    run = parsed("cow.tap")
    assert (run.version, run.plan, len(run.results), run.complete) == (13, 640, 640, True)
    assert [r.number for r in run.results] == list(range(1, 641))
    assert run.counts()["pass"] == 640 == run.totals["pass"]
    second = run.results[1]
    assert second.label == "Basic COW after fork() ... with swapped out base page"
    assert second.log == ("# [RUN] Basic COW after fork() ... with swapped out base page",)
    assert run.results[0].log[:1] == ("# [INFO] detected PMD size: 2048 KiB",)  # with the lines before the plan
    swapped = [r for r in run.results if "swapped" in r.label]
    assert len(swapped) > 100 and all(r.status == ktap.PASS for r in swapped)


def test_a_kselftest_skip_is_labelled_by_the_text_after_the_directive():
    run = parsed("test_memcontrol.tap")
    skipped = [r for r in run.results if r.status == ktap.SKIP]
    assert [(r.number, r.description, r.directive, r.label) for r in skipped] == [
        (11, "", "SKIP", "test_memcg_sock")]
    assert run.counts() == {"pass": 15, "fail": 0, "skip": 1, "xfail": 0, "xpass": 0, "error": 0}
    assert run.totals == {"pass": 15, "fail": 0, "xfail": 0, "xpass": 0, "skip": 1, "error": 0}
    assert parsed("test_zswap.tap").results[0].label == "test_zswap_usage"


def test_a_forked_childs_bail_out_does_not_end_the_parents_stream():
    # khugepaged's collapse_max_ptes_shared child exits through ksft_exit_fail_msg:
    # its "Bail out!" and totals come in the middle; the parent goes on to 26 of 26.
    run = parsed("khugepaged.tap")
    assert run.complete and len(run.results) == run.plan == 26
    assert run.bail_out == "Unexpected huge page"
    assert "Bail out! Unexpected huge page" in run.results[23].log
    assert run.totals["pass"] == 26  # the last Totals line, the parent's


def test_a_program_that_bails_out_leaves_an_incomplete_run():
    run = parsed("khugepaged-s2.tap")
    assert (run.plan, len(run.results), run.complete) == (26, 14, False)
    assert run.bail_out == "Failed to allocate huge page"
    assert run.trailing[-3:] == ("Bail out! Failed to allocate huge page",
                                 "# Planned tests != run tests (26 != 14)",
                                 "# Totals: pass:14 fail:0 xfail:0 xpass:0 skip:0 error:0")


def test_nested_ktap_results_are_their_parents_children():
    run = parsed("kunit/test_is_test_passed-all_passed_nested.log")
    assert (run.version, run.plan, [r.label for r in run.results]) == (14, 2, ["sysctl_test", "example"])
    suite = run.results[0]
    assert [c.label for c in suite.children] == [
        "sysctl_test_dointvec_null_tbl_data", "example", "sysctl_test_dointvec_table_len_is_zero",
        "sysctl_test_dointvec_table_read_but_position_set"]
    assert [c.label for c in suite.children[1].children] == ["example_simple_test", "example_mock_test"]
    failed = parsed("kunit/test_is_test_passed-failure-nested.log")
    assert [(r.label, r.status) for r in failed.results] == [("subtest 1", "fail"), ("subtest 2", "fail")]
    assert [(c.label, c.status) for c in failed.results[0].children] == [("test 1", "pass")]
    assert [(c.label, c.status) for c in failed.results[1].children] == [("subsubtest 1", "fail")]


def test_kunit_skips_and_kselftest_runner_output():
    skipped = parsed("kunit/test_skip_tests.log").results[1].children[1]
    assert (skipped.label, skipped.status, skipped.reason) == (
        "example_skip_test", ktap.SKIP, "this test should be skipped")
    runner = parsed("kunit/test_is_test_passed-kselftest.log")
    assert [(r.number, r.status) for r in runner.results] == [(1, "pass"), (2, "pass"), (3, "skip")]
    assert runner.results[2].label == "selftests: membarrier: membarrier_test_multi_thread"
    assert "# ok 1 sys_membarrier available" in runner.results[0].log  # the prefixed inner TAP is log


def test_a_result_line_without_a_number_is_an_error_naming_the_line():
    with pytest.raises(HarnessError, match=r"out.tap:3: a result line without a test number"):
        ktap.parse(["TAP version 13", "1..1", "ok"], "out.tap")
