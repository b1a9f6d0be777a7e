"""The pytest plugin as pytest users expect it, checked in real pytest runs (no VM boots).

The runs are in-process (pytester), so each costs a fraction of a second; the xdist
workers are real subprocesses all the same.
"""

import os

import pytest

pytest_plugins = ["pytester"]

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


@pytest.fixture
def run(pytester, monkeypatch):
    """Runs pytest on the sample tests, in-process, with no MMHARNESS_* setting from outside."""
    for variable in ("MMHARNESS_ACCEL", "MMHARNESS_RESULTS"):
        monkeypatch.delenv(variable, raising=False)
    pytester.makepyfile(test_sample=TESTS)

    def pytest_run(*args: str) -> pytest.RunResult:
        return pytester.runpytest_inprocess("-p", "no:cacheprovider", "--strict-markers", *args)

    return pytest_run


def test_every_marker_is_registered_by_the_plugin(run):
    out = run("--markers").stdout.str()
    for marker in ("manifest(name)", "cmdline(text)", "machine(**spec)", "build_label(label)", "boot:",
                   "build_only:", "build_matrix:", "baseline_kernel:"):
        assert f"@pytest.mark.{marker}" in out, marker


def test_tests_that_boot_are_marked_boot(run):
    result = run("--collect-only", "-q", "-m", "not boot")
    out = result.stdout.str()
    assert result.ret == 0, out + result.stderr.str()
    assert "test_builds_only" in out
    assert "test_boots" not in out and "2 deselected" in out
    booting = run("--collect-only", "-q", "-m", "boot").stdout.str()
    assert "test_sample.py::test_boots" in booting and "test_boots_several" in booting


def test_options_show_in_help_and_are_checked(run):
    help_text = run("--help").stdout.str()
    assert "--accel={auto,kvm,tcg}" in help_text and "--results-dir" in help_text and "--manifest" in help_text
    result = run("--accel", "hvf", "--collect-only")
    assert result.ret != 0 and "invalid choice: 'hvf'" in result.stderr.str()


XDIST_TESTS = '''
import pytest

@pytest.mark.parametrize("n", range(4))
def test_writes(n, results_dir, figures):
    (results_dir / "out.txt").write_text(str(n))
    figures(f"figure {n}", f"value {n}")
'''


def test_xdist_workers_get_their_own_results_and_the_controller_prints_their_figures(pytester, monkeypatch):
    monkeypatch.delenv("MMHARNESS_RESULTS", raising=False)
    pytester.makepyfile(test_xdist_sample=XDIST_TESTS)
    results = pytester.path / "results"
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-n", "2", "--results-dir", str(results))
    out = result.stdout.str()
    assert result.ret == 0, out + result.stderr.str()
    run_dirs = sorted(results.iterdir())
    assert [path.name.split("-")[3] for path in run_dirs] == ["gw0", "gw1"], run_dirs
    outputs = sorted(path.read_text() for path in results.glob("*/test_writes_*/out.txt"))
    assert outputs == ["0", "1", "2", "3"], "every test wrote into its worker's directory, none lost"
    for n in range(4):
        assert f"value {n}" in out, "the controller prints the workers' figures"
    assert all(f"results: {path}" in out for path in run_dirs)
    for path in run_dirs:
        assert f"report: {path / 'report.html'}" in out
        assert "test_writes" in (path / "report.html").read_text()


def test_a_run_leaves_report_html_with_the_junit_outcomes(pytester, monkeypatch):
    monkeypatch.delenv("MMHARNESS_RESULTS", raising=False)
    pytester.makepyfile(test_outcomes='''
def test_passes(results_dir):
    (results_dir / "out.txt").write_text("ok")

def test_fails(results_dir):
    assert False, "the failure the report shows first"
''')
    results = pytester.path / "results"
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--results-dir", str(results),
                                          "--junitxml", str(pytester.path / "junit.xml"))
    assert result.ret == 1
    (run_dir,) = results.iterdir()
    page = (run_dir / "report.html").read_text()
    assert f"report: {run_dir / 'report.html'}" in result.stdout.str()
    assert "junit.xml" in page and "the failure the report shows first" in page
    assert page.index("test_fails") < page.index("test_passes"), "failures first"


def test_the_options_environment_is_restored_after_the_run(run, monkeypatch):
    monkeypatch.setenv("MMHARNESS_ACCEL", "tcg")
    assert run("--accel", "kvm", "--results-dir", "elsewhere", "--collect-only").ret == 0
    assert os.environ["MMHARNESS_ACCEL"] == "tcg" and "MMHARNESS_RESULTS" not in os.environ


def test_a_report_that_fails_leaves_the_outcome_and_its_traceback(pytester, monkeypatch):
    from harness.results import report

    monkeypatch.delenv("MMHARNESS_RESULTS", raising=False)
    monkeypatch.setattr(report, "render", lambda *args, **kwargs: 1 / 0)
    pytester.makepyfile(test_one="def test_passes(results_dir):\n    pass\n")
    results = pytester.path / "results"
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--results-dir", str(results))
    assert result.ret == 0
    (run_dir,) = results.iterdir()
    assert not (run_dir / "report.html").exists()
    assert "ZeroDivisionError" in (run_dir / "report-error.txt").read_text()
    assert f"report: not written for {run_dir}: ZeroDivisionError" in result.stdout.str()
    other = pytester.path / "other-results"  # in-process, the same second would give the same directory
    quiet = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--results-dir", str(other), "--no-report")
    assert quiet.ret == 0 and "report:" not in quiet.stdout.str()
    (second,) = other.iterdir()
    assert not (second / "report.html").exists() and not (second / "report-error.txt").exists()
