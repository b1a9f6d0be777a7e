"""Manifests and the CLI's handling of bad input: one clear message, exit 1, no traceback."""

import os
import subprocess
import sys

import pytest

from harness.build import manifest
from harness.errors import HarnessError
from harness.paths import REPO_ROOT


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=REPO_ROOT, capture_output=True,
                          text=True, env={**os.environ, **(env or {})})


def test_default_manifest_loads():
    default = manifest.load("default")
    assert default.source.package == "linux-source-7.3"
    assert any(ref.upstream == "v7.3" for ref in default.series)
    assert default.builds[0].profile == "page-owner"


def test_matrix_expands(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("builds:\n  - profile: page-owner\n    matrix: {page_owner: [false, true], swap_page_owner: [false, true]}\n")
    builds = manifest.load(str(path)).builds
    assert len(builds) == 4
    assert builds[1].label == "page-owner[page_owner=n,swap_page_owner=y]"


@pytest.mark.parametrize("text, message", [
    ("builds: [\n", "malformed YAML"),
    ("- a\n- b\n", "a manifest is a YAML mapping"),
    ("buidls: []\n", r"unknown key\(s\) \['buidls'\]"),
    ("series: [{upstream: v7.3}]\nbuilds: [{profile: x}]\n", r"series\[0\] needs a `name`"),
    ("builds: []\n", "no `builds`"),
    ("builds: [{profile: x, matrix: {a: 1}}]\n", "maps each variable to a list"),
])
def test_bad_manifests(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(HarnessError, match=message):
        manifest.load(str(path))


def test_cli_bad_manifest_is_one_clear_message(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("source: {kind: debian\n")
    result = run_cli("build", "--manifest", str(path))
    assert result.returncode == 1
    assert "malformed YAML" in result.stderr and "Traceback" not in result.stderr


def test_cli_unknown_manifest_and_profile(tmp_path):
    result = run_cli("config", "--manifest", "no-such-manifest")
    assert result.returncode == 1 and "manifest 'no-such-manifest' not found" in result.stderr
    path = tmp_path / "m.yaml"
    path.write_text("source: {kind: path, path: %s}\nbuilds: [{profile: no-such-profile}]\n" % REPO_ROOT)
    result = run_cli("config", "--manifest", str(path))
    assert result.returncode == 1 and "is not a kernel tree" in result.stderr


def test_cli_unknown_profile_named(tmp_path, kernel_tree, cache):
    path = tmp_path / "m.yaml"
    path.write_text(f"source: {{kind: path, path: {kernel_tree}}}\nbuilds: [{{profile: no-such-profile}}]\n")
    result = run_cli("config", "--manifest", str(path))
    assert result.returncode == 1
    assert "unknown Kconfig profile 'no-such-profile'" in result.stderr and "page-owner" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_missing_series_entry(tmp_path, kernel_tree, cache):
    series = tmp_path / "broken"
    series.mkdir()
    (series / "series").write_text("0001-gone.patch\n")
    path = tmp_path / "m.yaml"
    path.write_text(f"source: {{kind: path, path: {kernel_tree}}}\nseries: [{series}]\n"
                    "builds: [{profile: page-owner}]\n")
    result = run_cli("patch", "--manifest", str(path))
    assert result.returncode == 1 and "0001-gone.patch' does not exist" in result.stderr


def test_cli_missing_tool(tmp_path, kernel_tree, cache):
    """With no flex on PATH, configuring names the tool and how to install it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("git", "make", "gcc"):
        (bin_dir / tool).symlink_to(subprocess.run(["which", tool], capture_output=True, text=True).stdout.strip())
    path = tmp_path / "m.yaml"
    path.write_text(f"source: {{kind: path, path: {kernel_tree}}}\nbuilds: [{{profile: page-owner}}]\n")
    result = run_cli("config", "--manifest", str(path), env={"PATH": str(bin_dir)})
    assert result.returncode == 1
    assert "needs flex, bison, which is not installed" in result.stderr
    assert "apt-get install bison flex" in result.stderr


AB = """\
name: ab
kernels:
  new: {source: {kind: path, path: /tmp/new}, series: [{name: swap-table-p4, upstream: v7.3}]}
  old: {source: {kind: path, path: /tmp/old}}
builds: [{profile: swap-table}]
machine: {memory_mb: 2048}
"""


def test_ab_manifest_names_one_kernel_each(tmp_path):
    path = tmp_path / "ab.yaml"
    path.write_text(AB)
    new, old = manifest.load_all(str(path))
    assert (new.name, new.kernel, old.name, old.kernel) == ("ab@new", "new", "ab@old", "old")
    assert [ref.name for ref in new.series] == ["swap-table-p4"] and old.series == ()
    assert new.builds == old.builds and new.machine == old.machine and new.guest == old.guest
    assert manifest.load(f"{path}@old") == old


def test_ab_manifest_needs_a_kernel_named(tmp_path):
    path = tmp_path / "ab.yaml"
    path.write_text(AB)
    with pytest.raises(HarnessError, match="A/B manifest with several kernels") as error:
        manifest.load(str(path))
    assert "ab@new, ab@old" in error.value.hint
    with pytest.raises(HarnessError, match="has no kernel 'v9'"):
        manifest.load(f"{path}@v9")
    with pytest.raises(HarnessError, match="has no `kernels`"):
        manifest.load("default@v7.3")


@pytest.mark.parametrize("text, message", [
    (AB + "source: {kind: path, path: /x}\n", "exclude each other"),
    ("kernels: []\nbuilds: [{profile: x}]\n", "maps a name to a source"),
    ("kernels: {a: {source: {kind: path, path: /x}, builds: []}}\nbuilds: [{profile: x}]\n",
     r"kernels.a: only \['series', 'source'\]"),
])
def test_bad_ab_manifests(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(HarnessError, match=message):
        manifest.load_all(str(path))


def test_the_swap_table_ab_manifest_builds_both_kernels_alike():
    new, old = manifest.load_all("swap-table-ab")
    assert new.source.package == "linux-source-7.3" and old.source.package == "linux-source-6.12"
    assert old.source.suite == "bookworm-security"
    assert new.builds == old.builds and new.machine == old.machine
