"""The pytest plugin as pytest users expect it, checked in a real pytest subprocess (no VM boots)."""

import subprocess
import sys
import textwrap
from pathlib import Path

TESTS = '''
import pytest

def test_boots(shell):
    pass

def test_boots_several(boot):
    pass

@pytest.mark.build_only
def test_builds_only():
    pass
'''


def pytest_run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    (tmp_path / "test_sample.py").write_text(textwrap.dedent(TESTS))
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--strict-markers",
                           "--rootdir", str(tmp_path), str(tmp_path), *args],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)


def test_every_marker_is_registered_by_the_plugin(tmp_path):
    out = pytest_run(tmp_path, "--markers").stdout
    for marker in ("manifest(name)", "cmdline(text)", "machine(**spec)", "build_label(label)", "boot:",
                   "build_only:", "build_matrix:", "baseline_kernel:"):
        assert f"@pytest.mark.{marker}" in out, marker


def test_tests_that_boot_are_marked_boot(tmp_path):
    result = pytest_run(tmp_path, "--collect-only", "-q", "-m", "not boot")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "test_builds_only" in result.stdout
    assert "test_boots" not in result.stdout and "2 deselected" in result.stdout
    booting = pytest_run(tmp_path, "--collect-only", "-q", "-m", "boot").stdout
    assert "test_sample.py::test_boots" in booting and "test_boots_several" in booting


def test_options_show_in_help_and_are_checked(tmp_path):
    help_text = pytest_run(tmp_path, "--help").stdout
    assert "--accel={auto,kvm,tcg}" in help_text and "--results-dir" in help_text and "--manifest" in help_text
    result = pytest_run(tmp_path, "--accel", "hvf", "--collect-only")
    assert result.returncode != 0 and "invalid choice: 'hvf'" in result.stderr


XDIST_TESTS = '''
import pytest

@pytest.mark.parametrize("n", range(4))
def test_writes(n, results_dir, figures):
    (results_dir / "out.txt").write_text(str(n))
    figures(f"figure {n}", f"value {n}")
'''


def test_xdist_workers_get_their_own_results_and_the_controller_prints_their_figures(tmp_path):
    (tmp_path / "test_xdist_sample.py").write_text(textwrap.dedent(XDIST_TESTS))
    results = tmp_path / "results"
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "2", "--rootdir",
                             str(tmp_path), str(tmp_path / "test_xdist_sample.py"), "--results-dir", str(results)],
                            cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    run_dirs = sorted(results.iterdir())
    assert [path.name.split("-")[3] for path in run_dirs] == ["gw0", "gw1"], run_dirs
    outputs = sorted(path.read_text() for path in results.glob("*/test_writes_*/out.txt"))
    assert outputs == ["0", "1", "2", "3"], "every test wrote into its worker's directory, none lost"
    for n in range(4):
        assert f"value {n}" in result.stdout, "the controller prints the workers' figures"
    assert all(f"results: {path}" in result.stdout for path in run_dirs)
