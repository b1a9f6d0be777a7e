import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.build import kbuild

from conftest import git


def fake_tree(tmp_path, makefile: str, work_config: str):
    """A committed git tree whose Makefile stands in for Kbuild, and a work dir with a .config."""
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "Makefile").write_text(makefile)
    git(tree, "init", "-q")
    git(tree, "add", "-A")
    git(tree, "commit", "-qm", "base")
    work = tmp_path / "work"
    work.mkdir()
    (work / ".config").write_text(work_config)
    return tree, work


def test_key_depends_on_every_input():
    base = kbuild.build_key("tree1", "debian-x", "CONFIG_A=y", "gcc 12")
    assert base == kbuild.build_key("tree1", "debian-x", "CONFIG_A=y", "gcc 12")
    others = {kbuild.build_key("tree2", "debian-x", "CONFIG_A=y", "gcc 12"),
              kbuild.build_key("tree1", "debian-y", "CONFIG_A=y", "gcc 12"),
              kbuild.build_key("tree1", "debian-x", "# CONFIG_A is not set", "gcc 12"),
              kbuild.build_key("tree1", "debian-x", "CONFIG_A=y", "gcc 13")}
    assert base not in others and len(others) == 4


def test_normalized_config_ignores_generated_header():
    one = "#\n# Linux/x86 7.3.4 Kernel Configuration\n# gcc 12\nCONFIG_A=y\n# CONFIG_B is not set\n"
    two = "#\n# Linux/x86 7.3.4 Kernel Configuration\n# gcc 13, built today\nCONFIG_A=y\n# CONFIG_B is not set\n"
    assert kbuild.normalized_config(one) == kbuild.normalized_config(two) == "CONFIG_A=y\n# CONFIG_B is not set"


def test_warnings_found_in_log():
    log = "  CC mm/a.o\nmm/a.c:3:1: warning: unused variable 'x' [-Wunused-variable]\n  LD vmlinux\n"
    assert kbuild.warnings_in(log) == ["mm/a.c:3:1: warning: unused variable 'x' [-Wunused-variable]"]


def test_finished_build_is_reused_without_make(tmp_path, cache):
    tree, work = fake_tree(tmp_path, "all:\n", "CONFIG_A=y\n")
    request = kbuild.BuildRequest(tree, "t", "label", work, (), "CONFIG_A=y\n")
    key = kbuild.build_key(kbuild._tree_head(tree), "t", "CONFIG_A=y", kbuild.compiler_version())
    done = cache / "builds" / key
    done.mkdir(parents=True)
    for name in kbuild.ARTIFACTS:
        (done / name).write_text("artifact")
    (done / "metadata.json").write_text(json.dumps({"status": "ok"}))
    result = kbuild.build(request)
    assert result.cached and result.directory == done
    assert not (done / "build.log").exists()  # make never ran
    (tree / "Makefile").write_text("changed:\n")  # an uncommitted change is a new input
    assert kbuild.build_key(kbuild._tree_head(tree), "t", "CONFIG_A=y", kbuild.compiler_version()) != key


def test_failed_build_keeps_log_and_metadata(tmp_path, cache):
    tree, work = fake_tree(tmp_path, "bzImage: vmlinux\nvmlinux:\n\t@echo '  CC      init/main.o'\n"
                                   "\t@echo 'init/main.c:1: error: boom'; exit 2\n", "CONFIG_A=y\n")
    try:
        kbuild.build(kbuild.BuildRequest(tree, "t", "label", work, (), "CONFIG_A=y\n"))
    except kbuild.HarnessError as error:
        message = str(error)
    else:
        raise AssertionError("the build should fail")
    assert "kernel build label failed" in message and "error: boom" in message
    metadata_file = next((cache / "builds").glob("*/metadata.json"))
    metadata = json.loads(metadata_file.read_text())
    assert metadata["status"] == "failed" and metadata["objects"] == 1
    assert "error: boom" in (metadata_file.parent / "build.log").read_text()


# Runs one build in its own process, as a pytest-xdist worker or a second nightly would.
BUILD_IN_PROCESS = """
import json, sys
from pathlib import Path
from harness.build import kbuild
tree, work = Path(sys.argv[1]), Path(sys.argv[2])
request = kbuild.BuildRequest(tree, "t", "label", work, (), (work / ".config").read_text())
result = kbuild.build(request, say=lambda text: print("SAY " + text, flush=True))
print("RESULT " + json.dumps({"cached": result.cached, "directory": str(result.directory)}))
"""


def test_two_runs_of_one_build_at_once_one_waits_and_reuses_it(tmp_path, cache):
    """Two processes build the same key at once: make runs once, the other waits for it (saying
    so through its `say`) and reuses it.

    The fake make blocks until the test releases it, so the second run must
    arrive while the first still builds, however slow the machine.
    """
    runs, release = tmp_path / "make-runs", tmp_path / "release"
    tree, work = fake_tree(tmp_path, ".PHONY: vmlinux bzImage\n"
        "vmlinux:\n"
        "\t@echo '  CC      init/main.o'\n"
        f"\t@echo ran >> {runs}\n"
        f"\t@while [ ! -e {release} ]; do sleep 0.05; done\n"
        "\t@touch $(O)/vmlinux\n"
        "bzImage: vmlinux\n"
        "\t@mkdir -p $(O)/arch/x86/boot && touch $(O)/arch/x86/boot/bzImage\n", "CONFIG_A=y\n")
    outputs = [tmp_path / "run0.out", tmp_path / "run1.out"]
    processes = []
    try:
        for output in outputs:
            with output.open("w") as out:
                processes.append(subprocess.Popen([sys.executable, "-u", "-c", BUILD_IN_PROCESS, str(tree), str(work)],
                                                  stdout=out, stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 60
        while not any("SAY waiting for build label" in output.read_text() for output in outputs):
            assert time.monotonic() < deadline, [output.read_text() for output in outputs]
            assert all(process.poll() is None for process in processes), [output.read_text() for output in outputs]
            assert not runs.exists() or runs.read_text() == "ran\n", "make ran twice at once"
            time.sleep(0.05)
        release.touch()
        for process in processes:
            assert process.wait(timeout=60) == 0
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    texts = [output.read_text() for output in outputs]
    results = [json.loads(text.split("RESULT ", 1)[1]) for text in texts]
    waiter = next(i for i, text in enumerate(texts) if "SAY waiting for build label" in text)
    builder = 1 - waiter
    key = Path(results[builder]["directory"]).name
    assert runs.read_text() == "ran\n"  # make ran once, for both
    assert results[builder]["cached"] is False and results[waiter]["cached"] is True
    assert results[waiter]["directory"] == results[builder]["directory"]
    assert f"SAY waiting for build label ({key}) held by pid {processes[builder].pid}" in texts[waiter]
    assert "building label" not in texts[waiter]
    done = Path(results[builder]["directory"])
    assert json.loads((done / "metadata.json").read_text())["status"] == "ok"
    assert (done / "config").read_text() == "CONFIG_A=y\n"


def test_key_and_make_use_the_configured_text_not_the_shared_file(tmp_path, cache):
    """Another run may reconfigure the shared work directory after ours: we build what we verified."""
    tree, work = fake_tree(tmp_path, ".PHONY: vmlinux bzImage\nvmlinux:\n\t@cp $(O)/.config $(O)/seen-config\n"
                                     "\t@touch $(O)/vmlinux\nbzImage: vmlinux\n"
                                     "\t@mkdir -p $(O)/arch/x86/boot && touch $(O)/arch/x86/boot/bzImage\n",
                           "CONFIG_OTHER=y\n")  # a .config left by another run
    result = kbuild.build(kbuild.BuildRequest(tree, "t", "label", work, (), "# header\nCONFIG_A=y\n"))
    assert result.key == kbuild.build_key(kbuild._tree_head(tree), "t", "CONFIG_A=y", kbuild.compiler_version())
    assert (work / "seen-config").read_text() == "# header\nCONFIG_A=y\n"
    assert result.config.read_text() == "# header\nCONFIG_A=y\n"


def test_managed_trees_build_in_a_child_so_commands_are_the_same_in_every_tree(tmp_path, cache):
    from harness.build import kconfig, pipeline, source

    profile = kconfig.Profile(name="page-owner", description="", base="tinyconfig", fragments=(), variables={},
                              boot=True, unknown_until_series={})
    base = source.Tree(tmp_path / "linux", "linux-7.3", {})
    series = source.Tree(tmp_path / "linux+abc", "linux-7.3+abc", {})
    own = source.Tree(tmp_path / "mine", "path-mine", {}, managed=False)
    first, second = pipeline.work_dir_for(base, profile), pipeline.work_dir_for(series, profile)
    # Kbuild uses srctree=.. only for an O= directory that is a direct child of the tree
    assert first.parent == base.path and second.parent == series.path and first.name == second.name
    assert not pipeline.work_dir_for(own, profile).is_relative_to(own.path), "a user's tree is left alone"
    other_variant = kconfig.Profile(name="page-owner", description="", base="tinyconfig", fragments=(),
                                    variables={"swap_page_owner": False}, boot=True, unknown_until_series={})
    assert pipeline.work_dir_for(base, other_variant) == first, "Kbuild rebuilds only what a symbol change touches"


def test_booting_builds_only_the_kernel_it_boots(monkeypatch):
    from harness.build import manifest as manifests, pipeline
    from harness.errors import HarnessError

    asked = []
    monkeypatch.setattr(pipeline, "build_all", lambda manifest, say, refs: asked.append(refs) or [])
    default = manifests.load("default")
    with pytest.raises(ValueError):  # the fake builds nothing; what matters is what it was asked
        pipeline.bootable_kernel(default)
    assert [ref.label for ref in asked[-1]] == ["page-owner[page_owner=y,swap_page_owner=y]"]
    with pytest.raises(ValueError):
        pipeline.bootable_kernel(default, "page-owner[page_owner=n,swap_page_owner=n]")
    assert [ref.label for ref in asked[-1]] == ["page-owner[page_owner=n,swap_page_owner=n]"]
    with pytest.raises(HarnessError, match="no bootable build nope") as error:
        pipeline.bootable_kernel(default, "nope")
    assert "page-owner[page_owner=y,swap_page_owner=n]" in error.value.hint
