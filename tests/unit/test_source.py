import hashlib
import tarfile

import pytest

from harness.build import debian_archive, source
from harness.errors import HarnessError


def test_mirror_from_one_line_and_deb822_sources(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text(
        "# comment\ndeb [signed-by=/k.gpg] http://mirror.example/debian-security bookworm-security main\n")
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm\nComponents: main\n")
    assert debian_archive.system_debian_mirror(tmp_path) == "http://mirror.example/debian"
    assert (debian_archive.system_debian_mirror(tmp_path, suite="bookworm-security")
            == "http://mirror.example/debian-security")


def test_no_security_mirror_names_the_suite(tmp_path):
    (tmp_path / "sources.list").write_text("deb http://mirror.example/debian bookworm main\n")
    with pytest.raises(HarnessError, match="no Debian security archive") as error:
        debian_archive.system_debian_mirror(tmp_path, suite="bookworm-security")
    assert "bookworm-security" in error.value.hint


def test_no_mirror_is_a_clear_error(tmp_path):
    with pytest.raises(HarnessError, match="no Debian archive found"):
        debian_archive.system_debian_mirror(tmp_path)


@pytest.mark.parametrize("data, message", [
    ({"kind": "svn"}, "unknown source kind 'svn'"),
    ({"kind": "git", "url": "x"}, "source kind git needs `ref`"),
    ({"kind": "tarball", "url": "x"}, "needs `sha256`"),
    ({"kind": "debian", "pakage": "x"}, r"unknown source key\(s\) \['pakage'\]"),
])
def test_spec_validation(data, message):
    with pytest.raises(HarnessError, match=message):
        source.SourceSpec.from_dict(data, "m.yaml: source")


def test_tarball_checksum_and_cache(tmp_path, cache):
    content = tmp_path / "linux-9.9"
    content.mkdir()
    (content / "Makefile").write_text("all:\n")
    tarball = tmp_path / "linux.tar.gz"
    with tarfile.open(tarball, "w:gz") as archive:
        archive.add(content, arcname="linux-9.9")
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
    with pytest.raises(HarnessError, match="sha256 is"):
        source.fetch(source.SourceSpec(kind="tarball", url=str(tarball), sha256="0" * 64))
    tree = source.fetch(source.SourceSpec(kind="tarball", url=str(tarball), sha256=digest))
    assert (tree.path / "Makefile").is_file() and tree.provenance["sha256"] == digest
    assert source.fetch(source.SourceSpec(kind="tarball", url=str(tarball), sha256=digest)) == tree


def test_git_source_and_path_source(tmp_path, cache):
    from conftest import git
    repo = tmp_path / "linux"
    repo.mkdir()
    (repo / "Makefile").write_text("all:\n")
    (repo / "Kconfig").write_text("")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    tree = source.fetch(source.SourceSpec(kind="git", url=str(repo), ref="main"))
    commit = git(repo, "rev-parse", "HEAD").strip()
    assert tree.provenance["commit"] == commit and tree.identity == f"git-{commit[:12]}"
    in_place = source.fetch(source.SourceSpec(kind="path", path=str(repo)))
    assert in_place.path == repo and not in_place.managed
    (repo / "Makefile").write_text("changed:\n")
    assert "dirty" in source.fetch(source.SourceSpec(kind="path", path=str(repo))).identity
    with pytest.raises(HarnessError, match="is not a kernel tree"):
        source.fetch(source.SourceSpec(kind="path", path=str(tmp_path)))
