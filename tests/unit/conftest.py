"""Fixtures shared by the unit tests."""

import lzma
import shutil
import subprocess
from pathlib import Path

import pytest

from harness import paths
from harness.build import source
from harness.results.parse import iter_records


def pytest_collection_modifyitems(items):
    """Every test that needs the real tree (directly or through another fixture) is marked
    `kernel_tree`, so `-m "not kernel_tree"` leaves out exactly those."""
    for item in items:
        if "kernel_tree" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.kernel_tree)


def cached_kernel_tree(package: str = source.SourceSpec().package) -> Path | None:
    """The newest cached tree of a Debian source package (default linux-source-7.3), or None.

    Looked up in the cache only: no apt-get update, no download, no unpacking.
    """
    trees = sorted(paths.cache_root().joinpath("trees").glob(f"debian-{package}-*"))
    for path in reversed(trees):
        tree = source._cached_tree(path)  # None for series worktrees and unfinished trees
        if tree and tree.provenance.get("package") == package:
            return tree.path
    return None


@pytest.fixture(scope="session")
def kernel_tree() -> Path:
    """The real Linux 7.3 tree from Debian's linux-source-7.3, as `make build` caches it.

    The Kconfig tests run against a real tree, never a mock. They are skipped,
    not failed, on a machine where no build has fetched it yet.
    """
    tree = cached_kernel_tree()
    if tree is None:
        pytest.skip(f"no cached {source.SourceSpec().package} tree under {paths.cache_root() / 'trees'}: "
                    "run `make build` (or `mmharness fetch`) once to fetch it")
    return tree


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """An empty harness cache for one test."""
    root = tmp_path / "cache"
    monkeypatch.setenv("MMHARNESS_CACHE", str(root))
    return root


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                          check=True, capture_output=True, text=True).stdout


REAL = Path(__file__).resolve().parent.parent / "data" / "real-7.3"


@pytest.fixture(scope="session")
def real_text(tmp_path_factory):
    """NAME -> path of tests/data/real-7.3/NAME.xz decompressed (once per session), for awk and page_owner_sort."""
    directory = tmp_path_factory.mktemp("real-7.3")

    def text(name: str) -> Path:
        path = directory / name.replace("/", "-")
        if not path.exists():
            with lzma.open(REAL / f"{name}.xz") as compressed, open(path, "wb") as out:
                shutil.copyfileobj(compressed, out, 1 << 20)
        return path

    return text


@pytest.fixture(scope="session")
def real_records(real_text):
    """NAME -> the records of a real dump, parsed once per session in strict mode (real dumps are well-formed)."""
    cache: dict[str, list] = {}

    def records(name: str) -> list:
        if name not in cache:
            with open(real_text(name), "rb") as dump:
                cache[name] = list(iter_records(dump, strict=True))
        return cache[name]

    return records
