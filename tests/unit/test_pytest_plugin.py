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
