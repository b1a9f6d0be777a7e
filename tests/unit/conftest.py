"""Fixtures shared by the unit tests."""

import lzma
import shutil
import subprocess
from pathlib import Path

import pytest

from harness import source
from harness.parse import iter_records


@pytest.fixture(scope="session")
def kernel_tree() -> Path:
    """The real Linux 7.3 tree from Debian's linux-source-7.3 (fetched once, then cached).

    The Kconfig tests run against a real tree, never a mock: the cached one
    that `make build` uses.
    """
    return source.fetch(source.SourceSpec()).path


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
