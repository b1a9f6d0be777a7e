"""harness.results.junit_summary on JUnit XML that pytest really wrote."""

import subprocess
import sys
import textwrap

import pytest

from harness.errors import HarnessError
from harness.paths import REPO_ROOT
from harness.results import junit_summary

THROWAWAY = textwrap.dedent('''
    import pytest

    def test_passes():
        pass

    def test_fails():
        assert 1 + 1 == 3, "arithmetic | broke"

    @pytest.mark.skip(reason="no KVM here")
    def test_skipped():
        pass

    @pytest.fixture
    def broken():
        raise RuntimeError("fixture exploded")

    def test_errors(broken):
        pass
''')


@pytest.fixture(scope="module")
def junit(tmp_path_factory):
    directory = tmp_path_factory.mktemp("junit")
    (directory / "test_throwaway.py").write_text(THROWAWAY)
    (directory / "pytest.ini").write_text("[pytest]\n")  # not this repository's configuration
    xml = directory / "junit.xml"
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             f"--junitxml={xml}", "test_throwaway.py"],
                            cwd=directory, capture_output=True, text=True)
    assert result.returncode == 1, result.stdout + result.stderr  # one test failed
    return xml


def summary(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.results.junit_summary", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True)


def test_counts_and_outcomes(junit):
    suite = junit_summary.load(junit)
    outcomes = {case.name.split("::")[-1]: case.outcome for case in suite.cases}
    assert outcomes == {"test_passes": "passed", "test_fails": "failed",
                        "test_skipped": "skipped", "test_errors": "error"}
    messages = {case.name.split("::")[-1]: case.message for case in suite.cases}
    assert "arithmetic | broke" in messages["test_fails"]
    assert "fixture exploded" in messages["test_errors"]
    assert "no KVM here" in messages["test_skipped"]


def test_markdown_table_puts_failures_first(junit):
    result = summary(str(junit))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("### junit.xml: 4 tests, 1 passed, 1 failed, 1 error, 1 skipped")
    rows = [line for line in lines if line.startswith("| ") and "`" in line]
    assert [row.split(" | ")[0] for row in rows] == ["| 💥 error", "| ❌ failed", "| ⏭️ skipped", "| ✅ passed"]
    assert "test_throwaway::test_fails" in rows[1]
    assert "arithmetic \\| broke" in rows[1]  # a pipe in a message does not split the row
    assert all(row.count(" | ") == 3 for row in rows)


def test_several_files_and_errors(junit, tmp_path):
    result = summary(str(junit), str(junit))
    assert result.stdout.count("### junit.xml") == 2
    result = summary(str(tmp_path / "missing.xml"))
    assert result.returncode == 1 and "does not exist" in result.stderr and "Traceback" not in result.stderr
    (tmp_path / "bad.xml").write_text("<testsuites><testcase")
    with pytest.raises(HarnessError, match="is not JUnit XML"):
        junit_summary.load(tmp_path / "bad.xml")
