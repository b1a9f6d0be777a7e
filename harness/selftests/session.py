"""One kernel's selftests run: its tree's selftests built, booted once without zswap and
once with it (when a program needs it), every program run, the results kept.

Used by tests/kernel/test_selftests.py (one run per kernel, shared by all its
items) and by `python -m harness.selftests.record`, which writes the
recorded list of subtests from a run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from harness.build.guest import GuestImage
from harness.build.pipeline import KernelUnderTest, Say
from harness.errors import HarnessError
from harness.run import session as boot_session
from harness.selftests import build as selftests_build, guest
from harness.selftests.catalog import Catalog, Program


# The two kernels of the manifest selftests-7.3, by name: (manifest, command line).
KERNELS = {
    "v7.3": ("selftests-7.3@v7.3", "page_owner=on"),
    "patched": ("selftests-7.3@patched", "page_owner=on,swap"),
}


@dataclass(frozen=True)
class KernelRun:
    """What one kernel did with every program; `error` is set when a boot or the harness failed."""

    kernel: KernelUnderTest
    cmdline: str
    runs: dict[str, guest.ProgramRun] = field(default_factory=dict)
    error: str = ""  # a crash report, a failed boot, a failed build: every item fails with it
    build_seconds: float = 0.0
    results_dir: Path | None = None


def kernel_tree(kernel: KernelUnderTest) -> tuple[Path, str]:
    """The tree a harness build came from (its metadata.json), and the tree's identity."""
    metadata = kernel.build_dir / "metadata.json"
    try:
        data = json.loads(metadata.read_text())
        return Path(data["tree"]), str(data["tree_identity"])
    except (OSError, ValueError, KeyError) as error:
        raise HarnessError(f"{metadata}: cannot tell which tree {kernel.label} was built from: {error}",
                           hint="the selftests need the harness's own build (not --kernel)") from None


def _boot(kernel: KernelUnderTest, cmdline: str, image: GuestImage, directory: Path,
          programs: list[Program], build: selftests_build.SelftestsBuild, say: Say,
          on_exit, into: dict[str, guest.ProgramRun]) -> None:
    """One boot running `programs` into `into`; leaving it raises on a crash at any time."""
    spec = boot_session.machine_spec(kernel, boot_session.Overrides(cmdline=cmdline))
    with boot_session.booted(spec, image, directory, on_exit=on_exit) as vm:
        shell = vm.shell()
        guest.install(shell, build)
        guest.run_programs(shell, programs, directory, say, into)


def run_kernel(kernel: KernelUnderTest, cmdline: str, catalog: Catalog, image: GuestImage, results_dir: Path,
               say: Say = print, on_exit=None) -> KernelRun:
    """Every program of the catalog on `kernel` booted with `cmdline`: one boot for the
    programs without zswap, one for those with it. A failure is kept in `error`."""
    run = KernelRun(kernel, cmdline, results_dir=results_dir)
    try:
        tree, identity = kernel_tree(kernel)
        built = selftests_build.build(tree, identity, catalog.targets, say)
        run = replace(run, build_seconds=built.seconds)
        programs = guest.ordered(catalog.programs)
        for zswap in (False, True):
            group = [program for program in programs if program.zswap == zswap]
            if group:
                name = "zswap" if zswap else "no-zswap"
                _boot(kernel, cmdline, image, results_dir / name, group, built, say,
                      on_exit or (lambda vm: None), run.runs)
    except HarnessError as error:
        return replace(run, error=str(error))
    return run
