"""Run selftest programs many times on both kernels and count each result's outcomes.

    python -m harness.selftests.repeat khugepaged-s2 [PROGRAM ...] [--runs 5]

For a result that fails now and then, one run per kernel says nothing about
whether the series made it worse. This boots each kernel of the selftests
manifest once, runs the programs `--runs` times in that boot (each after the
same `prepare` as the suite: swap on, caches dropped, memory compacted) and
prints, per result, how often it passed on each kernel, with the first line
of every distinct failure. Every run's output is kept in the results directory.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from harness import paths
from harness.build import manifest as manifests
from harness.errors import HarnessError
from harness.results.parse import ktap
from harness.run import session as boot_session
from harness.selftests import catalog, guest, session
from harness.selftests import build as selftests_build


@dataclass
class Tally:
    """One result's outcomes on one kernel over the runs."""

    passed: int = 0
    other: Counter[str] = field(default_factory=Counter)  # status -> count
    why: Counter[str] = field(default_factory=Counter)  # first failure line -> count

    @property
    def runs(self) -> int:
        return self.passed + sum(self.other.values())


_COLOUR = re.compile(r"\x1b\[[0-9;]*m")


def _why(run: guest.ProgramRun, result_log: tuple[str, ...]) -> str:
    """The first line that says what failed: the result's own log first, then the whole output."""
    for line in (*result_log, *run.output.splitlines()):
        text = _COLOUR.sub("", line).lstrip("# ").strip()
        if "Fail" in text or "Bail out" in text or "Unexpected" in text:
            return text[:120]
    return ""


def tally(runs: list[guest.ProgramRun], labels: list[str]) -> dict[str, Tally]:
    """Per recorded label (result N is labels[N-1]): how each run ended it. A run that
    stopped before result N counts as `missing` for it, with the reason it stopped."""
    tallies = {f"{number:03d}-{label}": Tally() for number, label in enumerate(labels, 1)}
    for run in runs:
        for number, label in enumerate(labels, 1):
            one = tallies[f"{number:03d}-{label}"]
            result = run.result(number)
            if result is None:
                one.other["missing"] += 1
                one.why[run.tap.bail_out or f"stopped (exit {run.status})"] += 1
            elif result.status == ktap.PASS:
                one.passed += 1
            else:
                one.other[result.status] += 1
                one.why[_why(run, result.log) or result.reason or result.status] += 1
    return tallies


def kernel_choice(text: str) -> tuple[str, str, str]:
    """NAME (a kernel of session.KERNELS with its command line) or NAME:CMDLINE,
    e.g. `patched:page_owner=on` for the series without swap tracking.
    Returns (label, manifest, command line)."""
    name, colon, cmdline = text.partition(":")
    if name not in session.KERNELS:
        raise argparse.ArgumentTypeError(f"{name!r}: the kernels are {', '.join(session.KERNELS)}")
    manifest, default = session.KERNELS[name]
    return (text if colon else name), manifest, (cmdline if colon else default)


def run_kernel(kernel: tuple[str, str, str], programs: list[catalog.Program], targets: tuple[str, ...],
               runs: int, directory: Path) -> list[tuple[catalog.Program, list[guest.ProgramRun]]]:
    """`runs` rounds of `programs` in one boot of the kernel; `targets` are what to build
    (the whole catalog's, so the suite's cached build is reused)."""
    kernel_name, manifest, cmdline = kernel
    kernel = boot_session.kernel_under_test(manifests.load(manifest))
    tree, identity = session.kernel_tree(kernel)
    built = selftests_build.build(tree, identity, targets, print)
    image = boot_session.guest_image(kernel.manifest.guest)
    spec = boot_session.machine_spec(kernel, boot_session.Overrides(cmdline=cmdline))
    out: list[tuple[catalog.Program, list[guest.ProgramRun]]] = [(program, []) for program in programs]
    with boot_session.booted(spec, image, directory) as vm:
        shell = vm.shell()
        guest.install(shell, built)
        for number in range(1, runs + 1):
            for program, done in out:
                guest.prepare(shell, program.zswap)
                run = guest.run_program(shell, program, directory, f"{program.id}.{number}")
                done.append(run)
                counts = run.tap.counts()
                print(f"[{kernel_name}] {program.id} run {number}/{runs}: exit {run.status} in {run.seconds:.0f} s, "
                      + ", ".join(f"{count} {status}" for status, count in counts.items() if count), flush=True)
    return out


def report(results: dict[str, list[tuple[catalog.Program, list[guest.ProgramRun]]]],
           recorded: dict[str, list[str]]) -> str:
    lines = []
    kernels = list(results)
    for index, (program, _) in enumerate(next(iter(results.values()))):
        per_kernel = {name: tally(results[name][index][1], recorded[program.id]) for name in kernels}
        lines.append(f"{program.id}: {len(recorded[program.id])} results, passes per kernel "
                     + ", ".join(kernels))
        for key in per_kernel[kernels[0]]:
            cells = [per_kernel[name][key] for name in kernels]
            if all(cell.passed == cell.runs for cell in cells):
                continue
            lines.append(f"  {key}: " + " | ".join(f"{name} {cell.passed}/{cell.runs}"
                                                   for name, cell in zip(kernels, cells)))
            for name, cell in zip(kernels, cells):
                for why, count in cell.why.most_common():
                    lines.append(f"      {name} x{count}: {why}")
        clean = sum(all(per_kernel[name][key].passed == per_kernel[name][key].runs for name in kernels)
                    for key in per_kernel[kernels[0]])
        lines.append(f"  passed every run on every kernel: {clean} of {len(per_kernel[kernels[0]])}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.selftests.repeat", description=__doc__.split("\n\n")[0])
    parser.add_argument("programs", nargs="+", help="program ids of harness/selftests/programs.yaml")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--kernels", nargs="+", type=kernel_choice, metavar="NAME[:CMDLINE]",
                        default=[kernel_choice(name) for name in session.KERNELS],
                        help=f"in this order; NAME is one of {', '.join(session.KERNELS)} (default: both)")
    args = parser.parse_args(argv)
    try:
        if args.runs < 1:
            raise HarnessError(f"--runs {args.runs}: give at least one run")
        every = catalog.load()
        programs = [every.program(program_id) for program_id in args.programs]
        if len({p.zswap for p in programs}) > 1:
            raise HarnessError("these programs mix zswap and no-zswap ones: zswap stays on until reboot",
                               hint="repeat the zswap programs in a call of their own")
        recorded: dict[str, list[str]] = {}
        for one in catalog.load_subtests():
            recorded.setdefault(one.program, []).append(one.label)
        missing = [program.id for program in programs if program.id not in recorded]
        if missing:
            raise HarnessError(f"{catalog.SUBTESTS}: no recorded results for {', '.join(missing)}",
                               hint="record them first: make selftests-record")
        directory = paths.new_results_dir("selftests-repeat")
        results = {}
        for kernel in args.kernels:
            try:
                results[kernel[0]] = run_kernel(kernel, programs, every.targets, args.runs,
                                                directory / kernel[0].replace(":", "-").replace("=", "-"))
            except HarnessError as error:  # keep what the kernels before this one showed
                if results:
                    (directory / "repeat.txt").write_text(report(results, recorded) + "\n")
                raise HarnessError(f"{kernel[0]}: {error.message}", hint=error.hint,
                                   artifacts=[*error.artifacts, str(directory)]) from None
        text = report(results, recorded)
        (directory / "repeat.txt").write_text(text + "\n")
        print(text)
        print(f"runs: {directory}")
        return 0
    except HarnessError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
