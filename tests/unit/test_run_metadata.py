"""harness.run.run_metadata: RUN_DIR/metadata.json of a kernel test session."""

import hashlib
import json
import shutil
import subprocess

import pytest

from harness.build import manifest as manifests
from harness.build.pipeline import KernelUnderTest
from harness.build.series import PATCHES
from harness.paths import REPO_ROOT
from harness.results import report
from harness.run import run_metadata

from test_report import RUN, Page  # tests/unit is on sys.path

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B13
flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep
processor\t: 1
model name\t: AMD EPYC 7B13
flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep
"""


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_harness_version_of_the_checkout_and_without_git(tmp_path):
    described = subprocess.run(["git", "-C", str(REPO_ROOT), "describe", "--always", "--dirty"],
                               capture_output=True, text=True).stdout.strip()
    assert run_metadata.harness_version() == described
    assert run_metadata.harness_version(tmp_path) == "0.1.0"  # pyproject.toml's version, installed


def test_host(monkeypatch):
    monkeypatch.delenv("MMHARNESS_ACCEL", raising=False)
    host = run_metadata.host_info(CPUINFO, cores=2)
    assert host == run_metadata.Host("AMD EPYC 7B13", 2, "tcg")  # no vmx/svm: TCG, as machine.detect_accel says
    monkeypatch.setenv("MMHARNESS_ACCEL", "tcg")
    assert run_metadata.host_info(CPUINFO.replace("apic", "apic svm")).accel == "tcg"
    assert run_metadata.cpu_model("processor : 0\n") == "unknown"
    assert run_metadata.host_info().cores >= 1


def test_tool_versions():
    assert run_metadata.tool_version(["mmharness-no-such-tool", "--version"]).startswith("unavailable (")
    if shutil.which(run_metadata.QEMU):
        assert run_metadata.tool_version([run_metadata.QEMU, "--version"]).startswith("QEMU emulator version")
    assert run_metadata.tool_version(["gcc", "--version"]).startswith("gcc")


@pytest.fixture
def kernel(tmp_path) -> KernelUnderTest:
    """A kernel of ghost-swap-7.3 as the pipeline returns it, its build directory as harness.build.kbuild leaves it."""
    build = tmp_path / "builds" / "0123456789abcdef0123"
    build.mkdir(parents=True)
    (build / "config").write_text("CONFIG_SWAP=y\nCONFIG_ZSWAP=y\n")
    (build / "metadata.json").write_text(json.dumps(
        {"status": "ok", "tree_identity": "debian-linux-source-7.3-7.3.4-1_bpo13+1", "seconds": 546.7}))
    manifest = manifests.load("ghost-swap-7.3")
    return KernelUnderTest(manifest, "ghost-swap[zswap=y]", build / "vmlinux", build / "arch/x86/boot/bzImage",
                           build / "config", build, ("swap-table-p4", "page-owner-swap", "ghost-swap"),
                           {"fetch": 0.4, "patch": 1.2, "config": 3.5, "build": 0.01})


def test_session_start_then_a_kernel_then_tests(tmp_path, kernel):
    run = tmp_path / "run"
    run.mkdir()
    run_metadata.start(run, argv=["pytest", "tests/kernel"],
                       host=run_metadata.Host("AMD EPYC 7B13", 2, "tcg"))
    first = json.loads((run / "metadata.json").read_text())
    assert first["command"] == "pytest tests/kernel" and first["kernels"] == []
    assert first["host"] == {"cpu_model": "AMD EPYC 7B13", "cores": 2, "accel": "tcg"}
    assert first["harness_version"] == run_metadata.harness_version()
    assert first["compiler"].startswith("gcc")

    run_metadata.add_kernel(run, kernel)
    [info] = run_metadata.read(run).kernels
    assert (info.manifest, info.build, info.tree) == ("ghost-swap-7.3", "ghost-swap[zswap=y]",
                                                      "debian-linux-source-7.3-7.3.4-1_bpo13+1")
    assert info.config_sha256 == sha256(kernel.config)
    assert info.phases == {"fetch": 0.4, "patch": 1.2, "config": 3.5, "build": 0.01}
    assert info.built_seconds == 546.7
    by_name = {one.name: one for one in info.series}
    assert list(by_name) == ["swap-table-p4", "page-owner-swap", "ghost-swap"]
    assert by_name["swap-table-p4"].upstream == "v7.3" and by_name["swap-table-p4"].patches == []
    listed = (PATCHES / "page-owner-swap" / "series").read_text().split()
    patches = by_name["page-owner-swap"].patches
    assert [patch.name for patch in patches] == [name for name in listed if name.endswith(".patch")]
    assert all(patch.sha256 == sha256(PATCHES / "page-owner-swap" / patch.name) for patch in patches)

    # a test's metadata.json, as the machine fixture writes it, then one still being written
    for name, text in (("test_a", json.dumps({"test": "tests/kernel/t.py::test_a", "manifest": "ghost-swap-7.3",
                                               "build": "ghost-swap[zswap=y]", "boot_seconds": 3.4})),
                       ("test_b", '{"test": "tests/kernel/t.py::test_b", "manif')):
        (run / name).mkdir()
        (run / name / "metadata.json").write_text(text)
    run_metadata.refresh(run)
    [info] = run_metadata.read(run).kernels
    assert info.boot_seconds == {"tests/kernel/t.py::test_a": 3.4}
    run_metadata.add_kernel(run, kernel)  # the same kernel again: replaced, boots kept
    [info] = run_metadata.read(run).kernels
    assert info.boot_seconds == {"tests/kernel/t.py::test_a": 3.4}
    assert sorted(path.name for path in run.iterdir()) == ["metadata.json", "test_a", "test_b"]  # no temp file


def test_refresh_without_a_file(tmp_path):
    assert run_metadata.refresh(tmp_path) is None
    assert not (tmp_path / "metadata.json").exists()


def test_kernel_given_with_dash_dash_kernel(tmp_path):
    """The plugin's --kernel: no build metadata, no series applied, maybe no .config."""
    manifest = manifests.load("default")
    kernel = KernelUnderTest(manifest, "--kernel", tmp_path / "vmlinux", tmp_path / "bzImage",
                             tmp_path / ".config", tmp_path, ())
    info = run_metadata.kernel_info(kernel)
    assert (info.tree, info.config_sha256, info.series, info.phases, info.built_seconds) == ("unknown", "", [], {}, None)


def test_the_report_shows_it(tmp_path, kernel):
    run = tmp_path / RUN.name
    shutil.copytree(RUN, run)
    run_metadata.start(run, host=run_metadata.Host("AMD EPYC 7B13", 2, "tcg"))
    run_metadata.add_kernel(run, kernel)
    page = run / "report.html"
    report.render(report.load(run), page, plots=False)
    parsed = Page(page.read_text())
    assert {"run-metadata", "run-kernels"} <= parsed.ids
    assert "AMD EPYC 7B13, 2 cores, accelerator tcg" in parsed.cells
    assert sha256(kernel.config)[:16] in page.read_text()
    assert "0001-mm-add-config-option-SWAP_PAGE_OWNER.patch" in page.read_text()
