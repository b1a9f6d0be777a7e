from pathlib import Path

import pytest

from harness.build import checkpatch
from harness.build.series import Series
from harness.errors import HarnessError

DATA = Path(__file__).parent.parent / "data" / "checkpatch"


def test_a_bad_patch_counts_its_errors_and_warnings():
    report = checkpatch.parse_report(DATA / "bad.patch", (DATA / "bad.patch.out").read_text())
    assert (report.errors, report.warnings, report.checks) == (3, 2, 0)


def test_the_series_log_has_a_clean_total_per_patch():
    sections = (DATA / "page-owner-swap-strict.log").read_text().lstrip("$ ").split("\n$ ")
    reports = [checkpatch.parse_report(Path(s.splitlines()[0].split()[-1]), s) for s in sections]
    assert [r.patch.name[:4] for r in reports] == [f"{n:04}" for n in range(1, 11)]
    assert all((r.errors, r.warnings, r.checks) == (0, 0, 0) for r in reports)


def test_output_without_a_total_is_an_error_not_a_pass():
    with pytest.raises(HarnessError, match="no total"):
        checkpatch.parse_report(Path("x.patch"), "perl: can't open perl script\n")


def test_a_tree_without_checkpatch_is_named(tmp_path):
    with pytest.raises(HarnessError, match="checkpatch.pl does not exist"):
        checkpatch.check_series(tmp_path, Series("s", (DATA / "bad.patch",)), tmp_path / "log")
