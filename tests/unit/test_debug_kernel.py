"""The debug kernel: its Kconfig variable and work directory, the build that stands for y/y,
the KASAN kernel's boot image."""

import re
import subprocess
import textwrap

import pytest

from harness.build import kconfig, manifest, pipeline, source
from harness.build.pipeline import KernelUnderTest
from harness.errors import HarnessError
from harness.paths import REPO_ROOT
from harness.run import session

YY = "page-owner[page_owner=y,swap_page_owner=y]"
DEBUG_YY = "page-owner[debug=y,page_owner=y,swap_page_owner=y]"


# -- Kconfig

def test_debug_off_renders_the_same_fragment_as_before():
    """debug=n adds no line: the normal builds keep their .config and build key."""
    without = kconfig.render(kconfig.load_profile("page-owner", {"swap_page_owner": True}), (7, 3))[0]
    assert "KASAN" not in without and "LOCKDEP" not in without and "KMEMLEAK" not in without
    assert "CONFIG_WERROR=y" in without


def test_debug_on_requests_every_debug_option():
    profile = kconfig.load_profile("page-owner", {"swap_page_owner": True, "debug": True})
    _, requests = kconfig.render(profile, (7, 3))
    values = {r.symbol: r.value for r in requests}
    for symbol in ("DEBUG_VM", "DEBUG_LIST", "PROVE_LOCKING", "LOCKDEP", "DEBUG_LOCK_ALLOC", "PROVE_RCU",
                   "KASAN", "KASAN_GENERIC", "KASAN_OUTLINE", "KFENCE", "DEBUG_KMEMLEAK",
                   "PAGE_OWNER", "SWAP_PAGE_OWNER"):
        assert values[symbol] == "y", symbol
    assert values["DEBUG_KMEMLEAK_AUTO_SCAN"] == "n"
    assert values["SLUB_TINY"] == "n"  # tinyconfig's choice excludes KASAN
    assert int(values["DEBUG_KMEMLEAK_MEM_POOL_SIZE"]) > 16000
    assert values["WERROR"] == "n"  # the later fragment wins over guest-baseline


def test_the_debug_build_has_a_work_directory_of_its_own(tmp_path):
    """KASAN changes every compile command: sharing the y/y build's O= directory would
    rebuild its objects and hold its lock for the whole debug build."""
    tree = source.Tree(tmp_path / "tree", "id", {}, managed=True)
    normal = kconfig.load_profile("page-owner", {"swap_page_owner": True})
    debug = kconfig.load_profile("page-owner", {"swap_page_owner": True, "debug": True})
    other = kconfig.load_profile("page-owner", {"swap_page_owner": False})
    assert pipeline.work_dir_for(tree, normal).name == ".mmharness-build-page-owner"
    assert pipeline.work_dir_for(tree, other) == pipeline.work_dir_for(tree, normal)
    assert pipeline.work_dir_for(tree, debug).name == ".mmharness-build-page-owner-debug"


def test_own_work_dir_must_name_variables(tmp_path):
    (tmp_path / "profiles").mkdir()
    (tmp_path / "fragments").mkdir()
    (tmp_path / "profiles" / "p.yaml").write_text("vars: {debug: false}\nown_work_dir: [debg]\n")
    with pytest.raises(HarnessError, match=r"own_work_dir names \['debg'\]"):
        kconfig.load_profile("p", root=tmp_path)


def test_the_debug_manifest_has_one_bootable_debug_build():
    loaded = manifest.load("page-owner-swap-debug")
    assert [ref.label for ref in loaded.builds] == [DEBUG_YY]
    assert loaded.machine.memory_mb >= 1024
    assert loaded.series == manifest.load("default").series
    assert loaded.source == manifest.load("default").source


# -- the build that stands for a label

def test_parse_label_inverts_the_build_label():
    for ref in manifest.load("default").builds + manifest.load("page-owner-swap-debug").builds:
        profile, settings = manifest.parse_label(ref.label)
        assert manifest.BuildRef(profile, settings).label == ref.label
    assert manifest.parse_label("swap-table") == ("swap-table", {})


def test_a_label_the_manifest_has_is_kept():
    assert pipeline.stand_in(manifest.load("default"), YY) == YY


def test_the_yy_label_stands_for_the_debug_build():
    assert pipeline.stand_in(manifest.load("page-owner-swap-debug"), YY) == DEBUG_YY


def _write_manifest(tmp_path, builds: str) -> manifest.Manifest:
    path = tmp_path / "m.yaml"
    path.write_text(textwrap.dedent("""\
        name: m
        source: {kind: path, path: /nonexistent}
        builds:
        """) + textwrap.indent(textwrap.dedent(builds), "  "))
    return manifest.load(str(path))


def test_no_stand_in_when_settings_differ_or_the_choice_is_ambiguous(tmp_path):
    build_only = _write_manifest(tmp_path, """\
        - profile: page-owner
          vars: {page_owner: true, swap_page_owner: true, debug: true}
          boot: false
        """)
    assert pipeline.stand_in(build_only, YY) == YY  # build-only builds are never booted
    other = _write_manifest(tmp_path, """\
        - profile: page-owner
          vars: {page_owner: true, swap_page_owner: false, debug: true}
        """)
    assert pipeline.stand_in(other, YY) == YY  # swap_page_owner=n is not y/y
    two = _write_manifest(tmp_path, """\
        - profile: page-owner
          matrix: {debug: [false, true]}
          vars: {page_owner: true, swap_page_owner: true}
        """)
    assert pipeline.stand_in(two, YY) == YY  # two candidates: no guess
    assert pipeline.stand_in(two, "ghost-swap[page_owner=y]") == "ghost-swap[page_owner=y]"


# -- the boot image

def test_a_kasan_kernel_boots_its_bzimage(tmp_path):
    (tmp_path / "vmlinux").write_text("")
    (tmp_path / "bzImage").write_text("")
    config = tmp_path / "config"
    kernel = KernelUnderTest(manifest.load("default"), YY, tmp_path / "vmlinux", tmp_path / "bzImage",
                             config, tmp_path, ())
    config.write_text("CONFIG_PVH=y\n# CONFIG_KASAN is not set\n")
    assert session.boot_image(kernel) == tmp_path / "vmlinux"
    assert session.machine_spec(kernel).kernel == tmp_path / "vmlinux"
    config.write_text("CONFIG_PVH=y\nCONFIG_KASAN=y\n")
    assert session.boot_image(kernel) == tmp_path / "bzImage"
    assert session.machine_spec(kernel).kernel == tmp_path / "bzImage"


# -- make test-debug

def test_make_test_debug_names_tests_of_the_page_owner_swap_suite():
    listed = subprocess.run(["make", "-s", "-C", str(REPO_ROOT), "debug-tests"], capture_output=True,
                            text=True, check=True).stdout.split()
    suite = (REPO_ROOT / "tests" / "kernel" / "test_page_owner_swap.py").read_text()
    names = [test.split("::")[1] for test in listed]
    assert {test.split("::")[0] for test in listed} == {"tests/kernel/test_page_owner_swap.py"}
    assert all(re.search(rf"^def {name}\(", suite, re.M) for name in names), names
    assert len(names) == 6 and "test_harness_catches_a_warning_on_the_console" not in names
