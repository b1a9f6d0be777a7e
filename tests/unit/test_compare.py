"""mmharness compare: Welch's t-test, the table, the plots and the errors."""

import shutil
from pathlib import Path

import pytest

from harness import cli
from harness.errors import HarnessError
from harness.results import compare, metrics

RECORDED = Path(__file__).parent.parent / "data" / "swap-table" / "20261207-051751-kernel"


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


def test_recorded_a_b_run_gives_the_table_and_the_plots(tmp_path, capsys):
    a, b = f"{RECORDED}#swap-table-ab@v6.12", f"{RECORDED}#swap-table-ab@v7.3"
    assert cli.main(["compare", a, b, "--out", str(tmp_path)]) == 0
    table = capsys.readouterr().out
    row = next(line for line in table.splitlines() if line.startswith("| static cost of swapon |"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[2].startswith("818 ± ") and cells[2].endswith("(3)")  # MiB per TiB on 6.12
    assert cells[3].startswith("24.3 ± ") and cells[4] == "-97.0%" and cells[6] == "yes"
    # counters 6.12 does not have are shown, not dropped
    assert "| mTHP 64 KiB: swpin | folios | not measured | 555 ± 47.8 (3) |" in table
    assert "| zero pages: swpout_zero | pages | not measured |" in table
    assert "fewer than 3 runs" in next(line for line in table.splitlines() if "memcg OOM kills" in line)
    report = tmp_path / "compare-swap-table-ab_v6.12-vs-swap-table-ab_v7.3.md"
    assert "static cost of swapon" in report.read_text() and "MemFree + per-cpu free pages" in report.read_text()
    for name in ("static-cost", "zero-pages", "mthp"):
        image = tmp_path / f"compare-swap-table-ab_v6.12-vs-swap-table-ab_v7.3-{name}.png"
        assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and image.stat().st_size > 10_000


def test_two_copies_of_one_run_differ_in_nothing(tmp_path):
    shutil.copytree(RECORDED, tmp_path / "again")
    a = metrics.load(f"{RECORDED}#swap-table-ab@v7.3")
    b = metrics.load(f"{tmp_path / 'again'}#swap-table-ab@v7.3")
    rows = compare.compare(a, b)
    assert len(rows) == len(a.metrics) == 15
    assert all(row.verdict in ("no", "no (constant)", "n/a: fewer than 3 runs") for row in rows)
    assert all(row.diff_percent in (None, 0.0) for row in rows)
