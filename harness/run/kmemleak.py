"""kmemleak on a debug kernel: clear after boot, scan after the workload.

The debug kernel has CONFIG_DEBUG_KMEMLEAK=y and no automatic scan
(DEBUG_KMEMLEAK_AUTO_SCAN=n), so the harness scans when it wants to know:
`clear()` once the guest is ready (a scan, then `clear`, so that what boot
left unreferenced is never reported again), `check()` after the test's
workload (two scans, as Documentation/dev-tools/kmemleak.rst advises against
transient false positives, then the debugfs file, parsed by
harness.results.kmemleak). Objects younger than 5 s (MSECS_MIN_AGE) are not
reported by a scan. An object boot allocated may still be referenced at the
clear's scan and become unreferenced later (seen: ramfs_init_fs_context's 8
bytes from start_kernel, tests/data/debug-kernel/), so `clear()` returns the
jiffies at that moment for harness.results.kmemleak.split().
"""

from pathlib import Path

from harness.build import kconfig
from harness.errors import HarnessError
from harness.results import kmemleak as report
from harness.run.guest_command import GuestShell

DEBUGFS = "/sys/kernel/debug/kmemleak"
SCAN_TIMEOUT = 600.0  # a scan walks all memory; KASAN under TCG makes it slow (9 s after boot, 1 GiB)


def enabled(config: Path) -> bool:
    """Whether the kernel built with this .config has kmemleak."""
    return Path(config).is_file() and kconfig.read_config(Path(config)).get("DEBUG_KMEMLEAK") == "y"


def _write(shell: GuestShell, word: str) -> None:
    result = shell.run(f"echo {word} > {DEBUGFS}", timeout=SCAN_TIMEOUT)
    if not result.ok:
        log = shell.run("dmesg | grep -i kmemleak | tail -5", timeout=60).stdout
        raise HarnessError(f"kmemleak: `echo {word} > {DEBUGFS}` failed (status {result.status}): "
                           f"{result.stderr.strip()}",
                           hint=f"kmemleak disabled itself? its console lines:\n{log.strip()}")


def clear(shell: GuestShell, hz: int) -> int:
    """Forget what is unreferenced now: scan (so boot's leftovers are marked reported), then
    clear. Returns the guest's jiffies at the clear (from its uptime)."""
    _write(shell, "scan")
    _write(shell, "clear")
    uptime = float(shell.check("cat /proc/uptime").stdout.split()[0])
    return report.initial_jiffies(hz) + int(uptime * hz)


def check(shell: GuestShell, scans: int = 2) -> list[report.Leak]:
    """Scan `scans` times and return the leaks kmemleak reports."""
    for _ in range(scans):
        _write(shell, "scan")
    return report.parse(shell.check(f"cat {DEBUGFS}", timeout=SCAN_TIMEOUT).stdout)
