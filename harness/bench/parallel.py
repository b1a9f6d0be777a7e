"""The kernel suite's wall time in one pytest process against pytest-xdist with two workers.

The same tests (BENCH_TESTS, default the swap table suite: ten VM tests on
two kernels) run twice on kernels already built: plain pytest (the baseline,
what a user runs without xdist), then `-n 2`. Both must pass.
"""

import os
import subprocess
import sys
import time

from harness.errors import HarnessError
from harness.paths import REPO_ROOT

TESTS = os.environ.get("BENCH_TESTS", "tests/kernel/test_swap_table.py").split()


def timed_pytest(*extra: str) -> float:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *TESTS, *extra]
    started = time.monotonic()
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if result.returncode != 0:
        raise HarnessError(f"{' '.join(command)} failed:\n{result.stdout[-3000:]}")
    return seconds


def bench_parallel():
    yield f"{' '.join(TESTS)} on {os.cpu_count()} CPUs; kernels built beforehand (a first run builds them)"
    timed_pytest("--collect-only")  # imports, and nothing else, warm for both
    timed_pytest("-x", "-k", "static_cost")  # builds what is missing, so neither timing includes a build
    serial = timed_pytest("-p", "no:xdist")
    yield f"  one process: {serial:.0f} s"
    parallel = timed_pytest("-n", "2")
    yield f"  -n 2:        {parallel:.0f} s ({parallel / serial:.2f}x the one process)"
