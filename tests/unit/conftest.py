"""Fixtures shared by the unit tests."""

import subprocess
from pathlib import Path

import pytest

from harness import source


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
