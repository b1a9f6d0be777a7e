"""mmharness compare: Welch's t-test, the table, the plots and the errors."""

import json
import shutil
from pathlib import Path

import pytest

from harness import cli, compare, metrics
from harness.errors import HarnessError

RECORDED = Path(__file__).parent.parent / "data" / "swap-table"


def test_welch_matches_the_textbook_value():
    # t = -3/sqrt(1/3 + 1/3) = -3.674 with 4 degrees of freedom: two-sided p = 0.0213
    p_value, verdict = compare.welch((1, 2, 3), (4, 5, 6), alpha=0.05)
    assert p_value == pytest.approx(0.0213, abs=1e-4)
    assert verdict == "yes"


def test_welch_uses_unequal_variances():
    # Student's pooled test gives p = 0.142 here; Welch's (df = 4.08) gives 0.165.
    p_value, verdict = compare.welch((1, 2, 3, 4), (2, 4, 6, 9), alpha=0.05)
    assert p_value == pytest.approx(0.1647, abs=1e-3)
    assert verdict == "no"


def test_no_verdict_below_three_runs_and_constants_are_judged_by_value():
    assert compare.welch((1, 2), (3, 4, 5), 0.05) == (None, "n/a: fewer than 3 runs")
    assert compare.welch((7, 7, 7), (7, 7, 7), 0.05) == (None, "no (constant)")
    assert compare.welch((0, 0, 0), (5, 5, 5), 0.05) == (None, "yes (constant)")


def test_the_difference_is_relative_to_a():
    row = compare.compare_metric(metrics.Metric("m", "MiB", (100, 100, 100)),
                                 metrics.Metric("m", "MiB", (25, 25, 25)), 0.05)
    assert row.diff_percent == pytest.approx(-75.0)
    zero = compare.compare_metric(metrics.Metric("m", "x", (0, 0, 0)), metrics.Metric("m", "x", (1, 1, 1)), 0.05)
    assert zero.diff_percent is None


def write_metrics(directory: Path, kernel: str, **samples) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, values in samples.items():
        metrics.record(directory, kernel, metrics.Metric(name.replace("_", " "), "MiB/TiB", tuple(values)))


def test_a_result_set_merges_runs_and_names_its_kernels(tmp_path):
    write_metrics(tmp_path / "run1" / "test_a", "k1", cost=[1, 2])
    write_metrics(tmp_path / "run2" / "test_a", "k1", cost=[3])
    write_metrics(tmp_path / "run2" / "test_b", "k2", cost=[9])
    assert metrics.load(f"{tmp_path}#k1").metrics["cost"].samples == (1, 2, 3)
    with pytest.raises(HarnessError, match="results of 2 kernels") as error:
        metrics.load(str(tmp_path))
    assert f"{tmp_path}#k1" in error.value.hint and f"{tmp_path}#k2" in error.value.hint
    with pytest.raises(HarnessError, match="no results of kernel 'k3'"):
        metrics.load(f"{tmp_path}#k3")


def test_bad_result_sets_are_named(tmp_path, capsys):
    assert cli.main(["compare", str(tmp_path / "missing"), str(tmp_path)]) == 1
    assert "is not a directory" in capsys.readouterr().err
    assert cli.main(["compare", str(tmp_path), str(tmp_path)]) == 1
    assert "no metrics.json" in capsys.readouterr().err
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "metrics.json").write_text("[1, 2]")
    assert cli.main(["compare", str(tmp_path), str(tmp_path)]) == 1
    assert "not a metrics file" in capsys.readouterr().err
