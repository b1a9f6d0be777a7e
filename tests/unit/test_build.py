import json

from harness import build as kbuild

from conftest import git


def test_key_depends_on_every_input():
    base = kbuild.build_key("tree1", "debian-x", "CONFIG_A=y", "gcc 12")
    assert base == kbuild.build_key("tree1", "debian-x", "CONFIG_A=y", "gcc 12")
    others = {kbuild.build_key("tree2", "debian-x", "CONFIG_A=y", "gcc 12"),
              kbuild.build_key("tree1", "debian-y", "CONFIG_A=y", "gcc 12"),
              kbuild.build_key("tree1", "debian-x", "# CONFIG_A is not set", "gcc 12"),
              kbuild.build_key("tree1", "debian-x", "CONFIG_A=y", "gcc 13")}
    assert base not in others and len(others) == 4


def test_normalized_config_ignores_generated_header(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    one.write_text("#\n# Linux/x86 7.3.4 Kernel Configuration\n# gcc 12\nCONFIG_A=y\n# CONFIG_B is not set\n")
    two.write_text("#\n# Linux/x86 7.3.4 Kernel Configuration\n# gcc 13, built today\nCONFIG_A=y\n# CONFIG_B is not set\n")
    assert kbuild.normalized_config(one) == kbuild.normalized_config(two)


def test_warnings_found_in_log():
    log = "  CC mm/a.o\nmm/a.c:3:1: warning: unused variable 'x' [-Wunused-variable]\n  LD vmlinux\n"
    assert kbuild.warnings_in(log) == ["mm/a.c:3:1: warning: unused variable 'x' [-Wunused-variable]"]


def test_finished_build_is_reused_without_make(tmp_path, cache):
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "Makefile").write_text("all:\n")
    git(tree, "init", "-q")
    git(tree, "add", "-A")
    git(tree, "commit", "-qm", "base")
    work = tmp_path / "work"
    work.mkdir()
    (work / ".config").write_text("CONFIG_A=y\n")
    request = kbuild.BuildRequest(tree, "t", "label", work, ())
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
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "Makefile").write_text("bzImage: vmlinux\nvmlinux:\n\t@echo '  CC      init/main.o'\n"
                                   "\t@echo 'init/main.c:1: error: boom'; exit 2\n")
    git(tree, "init", "-q")
    git(tree, "add", "-A")
    git(tree, "commit", "-qm", "base")
    work = tmp_path / "work"
    work.mkdir()
    (work / ".config").write_text("CONFIG_A=y\n")
    try:
        kbuild.build(kbuild.BuildRequest(tree, "t", "label", work, ()))
    except kbuild.HarnessError as error:
        message = str(error)
    else:
        raise AssertionError("the build should fail")
    assert "kernel build label failed" in message and "error: boom" in message
    metadata_file = next((cache / "builds").glob("*/metadata.json"))
    metadata = json.loads(metadata_file.read_text())
    assert metadata["status"] == "failed" and metadata["objects"] == 1
    assert "error: boom" in (metadata_file.parent / "build.log").read_text()
