"""The pipeline from a manifest to built kernels: fetch -> patch -> config -> build.

Each stage is a function that can run alone (the CLI exposes each one) and
returns what the next stage needs.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from harness import locks, paths
from harness.build import kbuild, kconfig, series as kseries, source
from harness.build.manifest import BuildRef, Manifest, parse_label
from harness.errors import HarnessError

Say = Callable[[str], None]  # progress and "waiting for ..." lines, e.g. to pytest's terminal


@dataclass(frozen=True)
class PatchedTree:
    tree: source.Tree
    series: tuple[str, ...]  # names of the applied (or upstream) series
    log: Path
    seconds: float = 0.0  # patching (checking an applied series) took
    fetch_seconds: float = 0.0  # fetching (or finding the cached) tree took, when build_all did it


@dataclass(frozen=True)
class ConfiguredBuild:
    ref: BuildRef
    profile: kconfig.Profile
    patched: PatchedTree
    work_dir: Path  # shared with other runs of this tree and profile: see build.build's locks
    result: kconfig.ConfigResult
    seconds: float = 0.0  # configuring and verifying took

    @property
    def config_text(self) -> str:
        """The .config this run configured and verified (the work directory's may have changed since)."""
        return self.result.text

    @property
    def boots(self) -> bool:
        return self.profile.boot if self.ref.boot is None else self.ref.boot


def fetch(manifest: Manifest) -> source.Tree:
    return source.fetch(manifest.source)


def load_series(manifest: Manifest) -> list[kseries.Series]:
    return [kseries.load_series(ref.name, ref.upstream) for ref in manifest.series]


def series_to_apply(manifest: Manifest) -> list[kseries.Series]:
    """The manifest's series that carry patches (not merged upstream)."""
    return [one for one in load_series(manifest) if not one.is_upstream]


def patch(manifest: Manifest, tree: source.Tree) -> PatchedTree:
    started = time.monotonic()
    loaded = load_series(manifest)
    for one in loaded:
        if one.is_upstream:
            kseries.check_upstream(one, tree)
    to_apply = [one for one in loaded if not one.is_upstream]
    tree = kseries.tree_for(tree, to_apply)
    log = paths.cache_dir("logs") / f"patch-{tree.identity}.log"
    names = kseries.apply(tree, to_apply, log)
    upstream = [one.name for one in loaded if one.is_upstream]
    return PatchedTree(tree, tuple(upstream + names), log, round(time.monotonic() - started, 2))


def work_dir_for(tree: source.Tree, profile: kconfig.Profile) -> Path:
    """The O= directory of a tree and profile.

    For the trees the harness manages it is a direct child of the tree, where
    Kbuild uses the relative srctree `..`: every compile command is then the
    same in the base tree and in each series worktree, and ccache hits across
    them (equal sources, equal .config). With O= elsewhere the absolute tree
    path is in every command, and a new worktree (any patch edit) rebuilt
    everything. One directory serves every variant of a profile (e.g.
    page_owner y/y, y/n, n/n): Kbuild's per-symbol dependencies then rebuild
    only the files that use a symbol that changed. A user's own tree (`path`)
    is not written into. A variable the profile lists in `own_work_dir` (the debug
    kernel's) changes every command line: such a build has a directory of its own,
    so it neither rebuilds the others' objects nor holds their lock for its build."""
    if tree.managed:
        return tree.path / f".mmharness-build-{profile.work_dir_name}"
    return paths.cache_dir("work", tree.identity, profile.work_dir_name)


def configure(ref: BuildRef, patched: PatchedTree, say: Say = locks.print_now) -> ConfiguredBuild:
    started = time.monotonic()
    profile = kconfig.load_profile(ref.profile, ref.variables)
    work_dir = work_dir_for(patched.tree, profile)
    result = kconfig.configure(patched.tree.path, work_dir, profile, set(patched.series),
                               work_dir / "mmharness-config.log", say)
    return ConfiguredBuild(ref, profile, patched, work_dir, result, round(time.monotonic() - started, 2))


def build(configured: ConfiguredBuild, say: Say = locks.print_now) -> kbuild.BuildResult:
    request = kbuild.BuildRequest(
        tree=configured.patched.tree.path,
        tree_identity=configured.patched.tree.identity,
        label=configured.ref.label,
        work_dir=configured.work_dir,
        series=configured.patched.series,
        config_text=configured.config_text,
    )
    return kbuild.build(request, say)


@dataclass(frozen=True)
class KernelUnderTest:
    """A built kernel ready to boot, with where it came from."""

    manifest: Manifest
    label: str
    vmlinux: Path
    bzimage: Path
    config: Path
    build_dir: Path
    series: tuple[str, ...]
    phases: dict[str, float] = field(default_factory=dict, compare=False)  # fetch/patch/config/build seconds

    def config_value(self, symbol: str) -> str:
        return kconfig.read_config(self.config).get(symbol, "n")


def boots(ref: BuildRef) -> bool:
    return kconfig.load_profile(ref.profile, ref.variables).boot if ref.boot is None else ref.boot


def stand_in(manifest: Manifest, label: str) -> str:
    """The build that boots for `label`: the label itself if the manifest has it; else the
    label of the manifest's only bootable build of the same profile whose settings include
    the label's (page-owner[page_owner=y,swap_page_owner=y] in page-owner-swap-debug:
    page-owner[debug=y,page_owner=y,swap_page_owner=y]), so a suite written for one build
    runs on a variant of it; else the label unchanged (bootable_kernel then names the
    builds there are). Two candidates are no choice: the label stays."""
    if any(ref.label == label for ref in manifest.builds):
        return label
    profile, wanted = parse_label(label)
    matches = [ref.label for ref in manifest.builds if ref.profile == profile and boots(ref)
               and wanted.items() <= parse_label(ref.label)[1].items()]
    return matches[0] if len(matches) == 1 else label


def bootable_kernel(manifest: Manifest, label: str | None = None, say: Say = locks.print_now) -> KernelUnderTest:
    """Build (or reuse) the manifest's first bootable kernel, or the one labelled; only that one."""
    chosen = [ref for ref in manifest.builds if (ref.label == label if label else boots(ref))][:1]
    if not chosen:
        raise HarnessError(f"manifest {manifest.name}: no bootable build {label or ''}".rstrip(),
                           hint=f"its builds: {', '.join(ref.label for ref in manifest.builds)}")
    [(configured, result)] = build_all(manifest, say, refs=chosen)
    patched = configured.patched
    phases = {"fetch": patched.fetch_seconds, "patch": patched.seconds, "config": configured.seconds,
              "build": round(result.seconds, 2)}
    return KernelUnderTest(manifest, configured.ref.label, result.vmlinux, result.bzimage,
                           result.config, result.directory, configured.patched.series, phases)


def build_all(manifest: Manifest, say: Say = locks.print_now,
              refs: list[BuildRef] | None = None) -> list[tuple[ConfiguredBuild, kbuild.BuildResult]]:
    """Every build of the manifest (or those of `refs`), each from the cache or built now."""
    started = time.monotonic()
    tree = fetch(manifest)
    fetched = round(time.monotonic() - started, 2)
    say(f"source: {tree.identity} at {tree.path}")
    patched = replace(patch(manifest, tree), fetch_seconds=fetched)
    say(f"series: {', '.join(patched.series) or '(none)'}")
    results = []
    for ref in manifest.builds if refs is None else refs:
        configured = configure(ref, patched, say)
        for note in configured.result.expected_unknown:
            say(f"note: {note}")
        result = build(configured, say)
        state = "cached build used" if result.cached else "built"
        say(f"{ref.label}: {state} in {result.seconds:.1f} s -> {result.directory}")
        results.append((configured, result))
    say(f"done in {time.monotonic() - started:.1f} s")
    return results
