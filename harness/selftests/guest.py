"""Run built selftests in a booted guest: unpack them, swapon, run each program, parse its TAP.

A program with a failure (or that stopped early) runs once more at once: under
TCG on a loaded host, timing-bound cases (memory.low protection, khugepaged
scans) fail now and then; tests/kernel/test_selftests.py counts a result that
passed in either run as a pass and says it was flaky.

Each program runs as `timeout -s KILL SECONDS ./BINARY ARGS` in its suite's
directory with stderr merged into stdout (so perror lines stay next to the
result they explain); the guest's timeout kills a hung program and the
output so far is still parsed. Programs that need zswap run last: enabling
zswap lasts until reboot (and turns mTHP swap-in off), so whatever runs
before it sees a kernel that never had zswap.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from harness.errors import HarnessError
from harness.results.parse import ktap
from harness.run import swap_backends
from harness.run.guest_command import GuestShell
from harness.selftests.catalog import Program
from harness.selftests.build import SelftestsBuild

GUEST_DIR = "/opt/mmharness-selftests"
SWAP_DEVICE = "/dev/vdb"  # the manifest machine's one swap disk (mkswap'ed on the host)
KILLED = 137  # what `timeout -s KILL` exits with

_RUN = 'cd "$1" && shift && exec timeout -s KILL "$@" 2>&1'
# Swap on, and memory as unfragmented as it gets: run_vmtests.sh drops caches and
# compacts before THP programs on small machines; here before every program, so each
# finds the same free huge pages whatever ran before it.
_PREPARE = ('grep -q "^$1 " /proc/swaps || swapon "$1"; sync; echo 3 > /proc/sys/vm/drop_caches;'
            ' echo 1 > /proc/sys/vm/compact_memory')


@dataclass(frozen=True)
class ProgramRun:
    program: Program
    status: int  # exit status: 0 pass, 4 skip (KSFT_SKIP), 1 fail, 137 killed by the timeout
    seconds: float
    output: str
    tap: ktap.Run
    log: Path | None = None  # where the output was saved
    retry: ProgramRun | None = None  # the second run, when the first had a failure or stopped early

    @property
    def killed(self) -> bool:
        return self.status == KILLED

    @property
    def needs_retry(self) -> bool:
        counts = self.tap.counts()
        return self.killed or not self.tap.complete or counts[ktap.FAIL] + counts[ktap.ERROR] > 0

    def result(self, number: int) -> ktap.Result | None:
        return next((one for one in self.tap.results if one.number == number), None)


def install(shell: GuestShell, build: SelftestsBuild) -> None:
    shell.check(["sh", "-c", 'mkdir -p "$1" && tar -xzf - -C "$1"', "install-selftests", GUEST_DIR],
                timeout=300, input=build.archive.read_bytes())


def prepare(shell: GuestShell, zswap: bool) -> None:
    """Swap on the machine's disk, caches dropped, memory compacted; zswap on only for
    the programs that need it."""
    shell.check(["sh", "-c", _PREPARE, "prepare", SWAP_DEVICE], timeout=300)
    if zswap:
        swap_backends.set_zswap(shell, True)


def run_program(shell: GuestShell, program: Program, out_dir: Path | None = None, name: str = "") -> ProgramRun:
    directory = f"{GUEST_DIR}/{program.suite}"
    seconds = int(program.timeout)
    started = time.monotonic()
    result = shell.run(["sh", "-c", _RUN, program.id, directory, str(seconds), f"./{program.binary}",
                        *program.args], timeout=seconds + 120)
    elapsed = round(time.monotonic() - started, 1)
    log = None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        log = out_dir / f"{name or program.id}.tap"
        log.write_text(result.stdout)
    where = str(log) if log else program.id
    return ProgramRun(program, result.status, elapsed, result.stdout, ktap.parse_text(result.stdout, where), log)


Say = Callable[[str], None]


def run_programs(shell: GuestShell, programs: Sequence[Program], out_dir: Path | None = None,
                 say: Say = print, into: dict[str, ProgramRun] | None = None) -> dict[str, ProgramRun]:
    """Every program in order, each after `prepare`; zswap programs must come last.

    Each run is added to `into` (returned) as soon as it ends, so a caller
    keeps the runs before a failure."""
    zswap_seen = False
    runs: dict[str, ProgramRun] = {} if into is None else into
    for program in programs:
        if zswap_seen and not program.zswap:
            raise HarnessError(f"selftest {program.id} runs without zswap after a zswap program",
                               hint="order the programs: those with `zswap: true` last (zswap stays on until reboot)")
        zswap_seen = zswap_seen or program.zswap
        prepare(shell, program.zswap)
        say(f"selftests: running {program.id} ({' '.join((program.target, *program.args))})")
        run = run_program(shell, program, out_dir)
        _report(say, program.id, run)
        if run.needs_retry:  # TCG on a loaded host: timing-bound cases fail now and then
            prepare(shell, program.zswap)
            retry = run_program(shell, program, out_dir, f"{program.id}.retry")
            _report(say, f"{program.id} (retry)", retry)
            run = replace(run, retry=retry)
        runs[program.id] = run
    return runs


def _report(say: Say, name: str, run: ProgramRun) -> None:
    counts = run.tap.counts()
    say(f"selftests: {name}: exit {run.status} in {run.seconds:.0f} s, "
        + ", ".join(f"{count} {status}" for status, count in counts.items() if count))


def ordered(programs: Sequence[Program]) -> list[Program]:
    """The programs without zswap first, then those with it, each group in the catalog's order."""
    return [p for p in programs if not p.zswap] + [p for p in programs if p.zswap]
