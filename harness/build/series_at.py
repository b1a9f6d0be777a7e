"""A series as committed at a git revision, and a manifest that uses it instead of the working tree's.

`export(name, rev, dest)` writes patches/NAME/* of revision REV of the
harness's own repository into dest/NAME (the directory keeps the series'
name, which the Kconfig checks of `unknown_until_series` go by);
`with_series(manifest, name, directory)` is the manifest with that series
taken from the directory. Builds are keyed by content (the patches' ids, the
tree, the .config), so a revision whose series equals the working tree's
reuses its build.
"""

import subprocess
from dataclasses import replace
from pathlib import Path

from harness.build.manifest import Manifest, SeriesRef
from harness.errors import HarnessError
from harness.paths import REPO_ROOT


def _git(repo: Path, *args: str) -> bytes:
    result = subprocess.run(["git", "-C", str(repo), *args], capture_output=True)
    if result.returncode != 0:
        raise HarnessError(f"git {' '.join(args)} in {repo} failed: {result.stderr.decode(errors='replace').strip()}",
                           hint="name a revision of the harness's repository that has the series, e.g. HEAD~1")
    return result.stdout


def export(name: str, rev: str, dest: Path, repo: Path = REPO_ROOT) -> Path:
    """patches/NAME at revision `rev` of `repo`, written to dest/NAME; returns that directory."""
    commit = _git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").decode().strip()
    listing = _git(repo, "ls-tree", "-z", "--name-only", commit, f"patches/{name}/").decode()
    files = [path for path in listing.split("\0") if path]
    if f"patches/{name}/series" not in files:
        raise HarnessError(f"revision {rev} ({commit[:12]}) has no patches/{name}/series",
                           hint="the series directory must exist at that revision")
    directory = dest / name
    directory.mkdir(parents=True, exist_ok=True)
    for path in files:
        (directory / Path(path).name).write_bytes(_git(repo, "show", f"{commit}:{path}"))
    return directory


def same_files(one: Path, other: Path) -> bool:
    """Whether two series directories hold the same files with the same bytes."""
    def contents(directory: Path) -> dict[str, bytes]:
        return {path.name: path.read_bytes() for path in directory.iterdir() if path.is_file()}
    return contents(one) == contents(other)


def with_series(manifest: Manifest, name: str, directory: Path) -> Manifest:
    """The manifest with its series `name` loaded from `directory` (a series directory path)."""
    if name not in [ref.name for ref in manifest.series]:
        raise HarnessError(f"manifest {manifest.name} has no series {name!r}",
                           hint=f"its series: {', '.join(ref.name for ref in manifest.series) or '(none)'}")
    series = tuple(SeriesRef(str(directory)) if ref.name == name and not ref.upstream else ref
                   for ref in manifest.series)
    return replace(manifest, series=series)
