"""Series application on a real (small) git work tree: apply, detect, fail clearly."""

from pathlib import Path

import pytest

from harness.build import series as kseries
from harness.build.source import BASE_TAG, Tree
from harness.errors import HarnessError

from conftest import cached_kernel_tree, git


@pytest.fixture
def tree(tmp_path) -> Tree:
    repo = tmp_path / "tree"
    repo.mkdir()
    (repo / "mm").mkdir()
    (repo / "mm" / "page_owner.c").write_text("".join(f"line {n}\n" for n in range(1, 41)))
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    git(repo, "tag", BASE_TAG)
    return Tree(repo, "test-tree")


def make_series(tree: Tree, directory: Path, edits: list[tuple[str, str, str]]) -> Path:
    """Commit each (old line, new line, subject) on a branch and export it with format-patch."""
    git(tree.path, "checkout", "-q", "-b", "work")
    for old, new, subject in edits:
        file = tree.path / "mm" / "page_owner.c"
        file.write_text(file.read_text().replace(old, new))
        git(tree.path, "commit", "-qam", subject)
    directory.mkdir(parents=True)
    git(tree.path, "format-patch", "-q", "-o", str(directory), f"{BASE_TAG}..work")
    git(tree.path, "checkout", "-q", "master")
    git(tree.path, "branch", "-qD", "work")
    names = sorted(p.name for p in directory.glob("*.patch"))
    (directory / "series").write_text("# order matters\n" + "\n".join(names) + "\n")
    return directory


def test_apply_is_idempotent(tree, tmp_path):
    directory = make_series(tree, tmp_path / "patches" / "demo",
                            [("line 3\n", "line three\n", "mm: three"), ("line 30\n", "line thirty\n", "mm: thirty")])
    demo = kseries.load_series("demo", root=tmp_path / "patches")
    assert [p.name for p in demo.patches] == sorted(p.name for p in directory.glob("*.patch"))
    log = tmp_path / "patch.log"
    assert kseries.apply(tree, [demo], log) == ["demo"]
    head = git(tree.path, "rev-parse", "HEAD")
    assert kseries.apply(tree, [demo], log) == ["demo"]
    assert git(tree.path, "rev-parse", "HEAD") == head  # detected, not applied twice
    assert "line thirty" in (tree.path / "mm" / "page_owner.c").read_text()
    kseries.apply(tree, [], log)  # back to the base
    assert "line thirty" not in (tree.path / "mm" / "page_owner.c").read_text()


def test_patch_that_does_not_apply_names_patch_file_and_hunk(tree, tmp_path):
    make_series(tree, tmp_path / "patches" / "demo", [("line 30\n", "line thirty\n", "mm: thirty")])
    file = tree.path / "mm" / "page_owner.c"
    file.write_text(file.read_text().replace("line 29\n", "changed 29\n").replace("line 31\n", "x\n"))
    git(tree.path, "commit", "-qam", "diverge")
    git(tree.path, "tag", "-f", BASE_TAG)
    demo = kseries.load_series("demo", root=tmp_path / "patches")
    with pytest.raises(HarnessError) as caught:
        kseries.apply(tree, [demo], tmp_path / "patch.log")
    message = str(caught.value)
    assert "series demo does not apply to test-tree: 0001-mm-thirty.patch: hunk at mm/page_owner.c:27" in message
    assert "@@ -27,7 +27,7 @@" in message
    assert git(tree.path, "status", "--porcelain") == ""  # no half-applied state left behind


def test_missing_series_entry_and_missing_series(tmp_path):
    directory = tmp_path / "patches" / "demo"
    directory.mkdir(parents=True)
    (directory / "series").write_text("0001-exists.patch\n0002-missing.patch\n")
    (directory / "0001-exists.patch").write_text("")
    with pytest.raises(HarnessError, match=r"series:2: patch '0002-missing.patch' does not exist"):
        kseries.load_series("demo", root=tmp_path / "patches")
    (directory / "series").unlink()
    with pytest.raises(HarnessError, match="needs a quilt-style `series` file"):
        kseries.load_series("demo", root=tmp_path / "patches")
    with pytest.raises(HarnessError, match="unknown series 'other'"):
        kseries.load_series("other", root=tmp_path / "patches")


def test_upstream_series_has_nothing_to_apply(tmp_path):
    upstream = kseries.load_series("swap-table-p4", upstream="v7.3", root=tmp_path)
    assert upstream.is_upstream and upstream.patches == ()


def test_mbox_series(tree, tmp_path):
    directory = make_series(tree, tmp_path / "split", [("line 5\n", "line five\n", "mm: five")])
    mbox = tmp_path / "patches" / "one.mbox"
    mbox.parent.mkdir()
    mbox.write_text("".join(p.read_text() for p in sorted(directory.glob("*.patch"))))
    one = kseries.load_series("one", root=tmp_path / "patches")
    kseries.apply(tree, [one], tmp_path / "log")
    assert "line five" in (tree.path / "mm" / "page_owner.c").read_text()


def test_each_series_set_gets_its_own_worktree(tree, tmp_path):
    make_series(tree, tmp_path / "patches" / "demo", [("line 7\n", "line seven\n", "mm: seven")])
    demo = kseries.load_series("demo", root=tmp_path / "patches")
    patched = kseries.tree_for(tree, [demo])
    assert patched.path != tree.path and patched.identity.startswith("test-tree+")
    kseries.apply(patched, [demo], tmp_path / "log")
    assert "line seven" in (patched.path / "mm" / "page_owner.c").read_text()
    assert "line seven" not in (tree.path / "mm" / "page_owner.c").read_text()  # the base stays pristine
    assert kseries.tree_for(tree, [demo]) == patched  # reused
    assert kseries.tree_for(tree, []) == tree


def write_probes(root: Path, text: str) -> None:
    (root / "swap-table-p4").mkdir(parents=True)
    (root / "swap-table-p4" / "upstream.yaml").write_text(text)


PROBES = """\
upstream: v7.3
probes:
  - absent: mm/swap_cgroup.c
    why: gone
  - contains: mm/swap_table.h
    text: "struct swap_table {"
"""


def test_upstream_probes_pass_on_a_tree_that_has_the_series(tree, tmp_path):
    write_probes(tmp_path / "patches", PROBES)
    (tree.path / "mm" / "swap_table.h").write_text("struct swap_table {\n};\n")
    series = kseries.load_series("swap-table-p4", upstream="v7.3", root=tmp_path / "patches")
    assert [probe.kind for probe in series.probes] == ["absent", "contains"]
    kseries.check_upstream(series, tree)


@pytest.mark.parametrize("change, failure", [
    ({"mm/swap_cgroup.c": "", "mm/swap_table.h": "struct swap_table {"},
     r"probe `absent mm/swap_cgroup.c \(gone\)` failed: mm/swap_cgroup.c exists"),
    ({}, r"mm/swap_table.h does not exist"),
    ({"mm/swap_table.h": "struct swap_cluster_info;"}, r"does not contain 'struct swap_table \{'"),
])
def test_a_tree_without_the_upstream_series_is_named_with_the_failed_probe(tree, tmp_path, change, failure):
    write_probes(tmp_path / "patches", PROBES)
    for name, text in change.items():
        (tree.path / name).write_text(text)
    series = kseries.load_series("swap-table-p4", upstream="v7.3", root=tmp_path / "patches")
    with pytest.raises(HarnessError, match=r"series swap-table-p4 \(upstream in v7.3\) is not in tree test-tree: .*"
                                           + failure):
        kseries.check_upstream(series, tree)


@pytest.mark.parametrize("text, message", [
    ("upstream: v7.2\nprobes: []\n", "the series is upstream in v7.2, the manifest says v7.3"),
    ("probes: [{exists: mm/x.c}]\n", r"probes\[0\] needs one of"),
    ("probes: [{absent: mm/x.c, text: y}]\n", r"probes\[0\] needs one of"),
    ("probes: [{contains: mm/x.c}]\n", r"probes\[0\] needs one of"),
    ("probes: [\n", "not valid YAML"),
])
def test_bad_probe_files(tmp_path, text, message):
    write_probes(tmp_path / "patches", text)
    with pytest.raises(HarnessError, match=message):
        kseries.load_series("swap-table-p4", upstream="v7.3", root=tmp_path / "patches")


def test_the_real_probes_hold_on_7_3(kernel_tree):
    series = kseries.load_series("swap-table-p4", upstream="v7.3")
    assert len(series.probes) >= 3
    kseries.check_upstream(series, Tree(kernel_tree, kernel_tree.name))


@pytest.mark.kernel_tree
def test_the_real_probes_fail_on_6_12():
    tree = cached_kernel_tree("linux-source-6.12")
    if tree is None:
        pytest.skip("no cached linux-source-6.12 tree: `mmharness fetch -m swap-table-ab` fetches it")
    series = kseries.load_series("swap-table-p4", upstream="v7.3")
    with pytest.raises(HarnessError, match="probe `absent mm/swap_cgroup.c .*` failed: mm/swap_cgroup.c exists"):
        kseries.check_upstream(series, Tree(tree, tree.name))
