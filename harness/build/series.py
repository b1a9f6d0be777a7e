"""Patch series: a quilt-style directory (`series` + git format-patch files) or an mbox.

Applying is idempotent: the patch-ids of the series are compared with the
commits on top of the tree's base, so an applied series is detected, not
applied twice. A series marked `upstream` has nothing to apply; its
`upstream.yaml` lists probes that the tree must pass, so a manifest cannot
claim a merged series on a tree that lacks it.
"""

import hashlib
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from harness.build.source import BASE_TAG, Tree
from harness.errors import HarnessError
from harness.paths import REPO_ROOT
from harness.proc import require_tools, run

PATCHES = REPO_ROOT / "patches"
GIT_IDENTITY = ["-c", "user.name=mmharness", "-c", "user.email=mmharness@localhost"]


PROBE_KINDS = ("absent", "present", "contains")


@dataclass(frozen=True)
class Probe:
    """One fact about a tree that has an upstream series: a file absent, present, or containing a text."""

    kind: str
    file: str
    text: str = ""
    why: str = ""

    def failure(self, tree: Path) -> str:
        """Why `tree` fails this probe, or "" when it passes."""
        path = tree / self.file
        if self.kind == "absent":
            return f"{self.file} exists" if path.exists() else ""
        if not path.is_file():
            return f"{self.file} does not exist"
        if self.kind == "contains" and self.text not in path.read_text(errors="replace"):
            return f"{self.file} does not contain {self.text!r}"
        return ""

    def __str__(self) -> str:
        what = f"{self.kind} {self.file}" + (f" {self.text!r}" if self.text else "")
        return what + (f" ({self.why})" if self.why else "")


@dataclass(frozen=True)
class Series:
    name: str
    patches: tuple[Path, ...]  # empty for an upstream series
    upstream: str = ""  # e.g. "v7.3": merged upstream since that version
    probes: tuple[Probe, ...] = ()  # what a tree with this upstream series must show

    @property
    def is_upstream(self) -> bool:
        return bool(self.upstream)


def _probes(path: Path, upstream: str) -> tuple[Probe, ...]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise HarnessError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(data, dict) or set(data) - {"upstream", "probes"}:
        raise HarnessError(f"{path}: expected the keys `upstream` and `probes`")
    if str(data.get("upstream", upstream)) != upstream:
        raise HarnessError(f"{path}: the series is upstream in {data['upstream']}, the manifest says {upstream}",
                           hint="make the manifest's `upstream:` match the series")
    probes = []
    for index, entry in enumerate(data.get("probes") or []):
        kinds = [kind for kind in PROBE_KINDS if kind in (entry if isinstance(entry, dict) else {})]
        if len(kinds) != 1 or set(entry) - {*PROBE_KINDS, "text", "why"} or (kinds[0] == "contains") != ("text" in entry):
            raise HarnessError(f"{path}: probes[{index}] needs one of {list(PROBE_KINDS)} naming a file"
                               " (and `text` with `contains` only)", hint="e.g. - absent: mm/swap_cgroup.c")
        probes.append(Probe(kinds[0], str(entry[kinds[0]]), str(entry.get("text", "")), str(entry.get("why", ""))))
    return tuple(probes)


def check_upstream(series: Series, tree: Tree) -> None:
    """Raise unless the tree passes every probe of an upstream series."""
    for probe in series.probes:
        failure = probe.failure(tree.path)
        if failure:
            raise HarnessError(
                f"series {series.name} (upstream in {series.upstream}) is not in tree {tree.identity}: "
                f"probe `{probe}` failed: {failure}",
                hint=f"use a tree from {series.upstream} or later, or drop {series.name} from the manifest")


def load_series(name: str, upstream: str = "", root: Path = PATCHES) -> Series:
    """A series from patches/NAME/series, patches/NAME.mbox, or a path.

    An upstream series has no patches; patches/NAME/upstream.yaml, when it
    exists, gives the probes its trees must pass."""
    if upstream:
        probe_file = root / name / "upstream.yaml"
        return Series(name, (), upstream, _probes(probe_file, upstream) if probe_file.is_file() else ())
    candidate = Path(name)
    directory = candidate if candidate.is_dir() else root / name
    mbox = candidate if candidate.is_file() else root / f"{name}.mbox"
    if directory.is_dir():
        series_file = directory / "series"
        if not series_file.is_file():
            raise HarnessError(f"series {name}: {series_file} does not exist",
                               hint="a series directory needs a quilt-style `series` file listing its patches")
        patches = []
        for number, line in enumerate(series_file.read_text().splitlines(), start=1):
            entry = line.split("#", 1)[0].strip()
            if not entry:
                continue
            patch = directory / entry.split()[0]
            if not patch.is_file():
                raise HarnessError(f"{series_file}:{number}: patch {entry!r} does not exist in {directory}")
            patches.append(patch)
        return Series(directory.name, tuple(patches))
    if mbox.is_file():
        return Series(mbox.stem, (mbox,))
    raise HarnessError(f"unknown series {name!r}: neither {root / name}/series nor {root / name}.mbox exists",
                       hint="create the series directory, or mark the series `upstream: vX.Y` in the manifest")


def _patch_ids(text: str, tree: Path) -> list[str]:
    result = subprocess.run(["git", "-C", str(tree), "patch-id", "--stable"], input=text,
                            capture_output=True, text=True, check=True)
    return [line.split()[0] for line in result.stdout.splitlines() if line.strip()]


def series_patch_ids(series: list[Series], tree: Path) -> list[str]:
    ids: list[str] = []
    for one in series:
        for patch in one.patches:
            ids.extend(_patch_ids(patch.read_text(errors="replace"), tree))
    return ids


def applied_patch_ids(tree: Tree) -> list[str]:
    """Patch-ids of the commits between the base and HEAD, oldest first."""
    base = BASE_TAG if tree.managed else "HEAD"
    log = run(["git", "-C", str(tree.path), "log", "--reverse", "-p", "--format=commit %H",
               f"{base}..HEAD"], what="git log").stdout
    return _patch_ids(log, tree.path) if log.strip() else []


def _describe_failure(patch: Path, output: str) -> str:
    """Name the patch, the file and the failing hunk from git am's output."""
    match = re.search(r"patch failed: (\S+):(\d+)", output)
    if not match:
        missing = re.search(r"error: (\S+): (does not exist in index|No such file or directory)", output)
        if missing:
            return f"{patch.name}: file {missing.group(1)} does not exist in the tree"
        return f"{patch.name}: {output.strip().splitlines()[-1] if output.strip() else 'git am failed'}"
    file, line = match.group(1), int(match.group(2))
    hunk = _hunk_at(patch, file, line)
    return f"{patch.name}: hunk at {file}:{line} does not apply" + (f"\n    {hunk}" if hunk else "")


def _hunk_at(patch: Path, file: str, line: int) -> str:
    current = ""
    for text in patch.read_text(errors="replace").splitlines():
        if text.startswith("+++ "):
            current = text[6:] if text.startswith("+++ b/") else text[4:]
        elif text.startswith("@@") and current == file:
            match = re.match(r"@@ -(\d+)", text)
            if match and int(match.group(1)) == line:
                return text
    return ""


def tree_for(tree: Tree, series: list[Series]) -> Tree:
    """The work tree a series set is applied in.

    The base tree stays pristine; each set of patches gets its own git
    worktree, so manifests with different series never flip one tree back
    and forth (which would make make(1) rebuild, and race parallel runs).
    """
    if not tree.managed or not any(one.patches for one in series):
        return tree
    digest = hashlib.sha256("\n".join(series_patch_ids(series, tree.path)).encode()).hexdigest()[:12]
    identity = f"{tree.identity}+{digest}"
    path = tree.path.parent / identity
    if not (path / ".git").exists():
        run(["git", "-C", str(tree.path), "worktree", "prune"], what="git worktree prune")
        run(["git", "-C", str(tree.path), "worktree", "add", "-q", "--detach", str(path), BASE_TAG],
            what=f"git worktree add {path.name}")
    return Tree(path, identity, {**tree.provenance, "identity": identity, "series": [s.name for s in series]})


def apply(tree: Tree, series: list[Series], log: Path) -> list[str]:
    """Bring the tree to base + series. Returns the names of the applied series."""
    require_tools("git", purpose="applying patch series")
    wanted = series_patch_ids(series, tree.path)
    have = applied_patch_ids(tree)
    names = [one.name for one in series]
    if have == wanted:
        return names
    if not tree.managed:
        if have[-len(wanted):] == wanted and wanted:
            return names
        if have and not wanted:
            return names  # a path tree's own commits are the user's business
    else:
        run(["git", "-C", str(tree.path), "reset", "-q", "--hard", BASE_TAG], what="git reset", log=log)
    for one in series:
        for patch in one.patches:
            result = run(["git", "-C", str(tree.path), *GIT_IDENTITY, "am", "-q", "--no-3way",
                          str(patch)], what=f"git am {patch.name}", log=log, check=False)
            if result.returncode != 0:
                run(["git", "-C", str(tree.path), "am", "--abort"], what="git am --abort", check=False)
                if tree.managed:
                    run(["git", "-C", str(tree.path), "reset", "-q", "--hard", BASE_TAG], what="git reset")
                raise HarnessError(
                    f"series {one.name} does not apply to {tree.identity}: "
                    + _describe_failure(patch, result.stdout + result.stderr),
                    hint="rebase the patch onto this tree, or pick the tree it was written for",
                    artifacts=[str(log)])
    return names

