"""The plugin's kmemleak check, on a kernel whose .config has CONFIG_DEBUG_KMEMLEAK=y.

Once the guest is ready, `after_boot` clears what boot left (harness.run.kmemleak);
after the test (the `machine` fixture: pytest_runtest_call; each `boot` block:
its end) `check` scans and fails the test with the leaks' report, kept whole in
the test's kmemleak.txt. A leak allocated before the clear (boot's, unreferenced
only later) is a notice in kmemleak-before-test.txt, not a failure. The
console's "kmemleak: N new suspected memory leaks" lines are left to this
check (`judged`: the MachineSpec's judged_elsewhere).
"""

from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from harness.build.pipeline import KernelUnderTest
from harness.results import kmemleak as report
from harness.run import kmemleak
from harness.run.machine import Machine, MachineSpec

CONSOLE_KIND = "memory leak"  # harness.results.crash's kind for kmemleak's console lines


@dataclass(frozen=True)
class LeakCheck:
    """What the check after a test needs: where the report goes, from when a leak counts."""

    where: Path  # the test's (or boot's) results directory
    since: int  # the guest's jiffies at the clear after boot


def judged(kernel: KernelUnderTest, spec: MachineSpec) -> MachineSpec:
    """The spec, with kmemleak's console lines left to `check` on a kmemleak kernel."""
    if not kmemleak.enabled(kernel.config) or CONSOLE_KIND in spec.judged_elsewhere:
        return spec
    return replace(spec, judged_elsewhere=(*spec.judged_elsewhere, CONSOLE_KIND))


def after_boot(vm: Machine, kernel: KernelUnderTest, where: Path) -> LeakCheck | None:
    """On a kmemleak kernel, forget boot's leftovers; None on any other kernel."""
    if not kmemleak.enabled(kernel.config):
        return None
    return LeakCheck(Path(where), kmemleak.clear(vm.shell(), int(kernel.config_value("HZ"))))


def check(vm: Machine, leak_check: LeakCheck, notices: list[str] | None = None) -> None:
    """Scan for leaks (before shutdown); fail the test with the report's first lines."""
    where = leak_check.where
    leaks, before = report.split(kmemleak.check(vm.shell()), leak_check.since)
    (where / "kmemleak.txt").write_text("\n".join(leak.text for leak in leaks) + "\n" if leaks else "")
    if before:
        (where / "kmemleak-before-test.txt").write_text("\n".join(leak.text for leak in before) + "\n")
        if notices is not None:
            notices.append(f"{where.name}: kmemleak: {len(before)} leak(s) allocated before the test "
                           f"({', '.join(sorted({leak.first_caller for leak in before}))}): "
                           f"{where / 'kmemleak-before-test.txt'}")
    if leaks:
        pytest.fail(f"{report.summary(leaks)}\nfull report: {where / 'kmemleak.txt'}", pytrace=False)
