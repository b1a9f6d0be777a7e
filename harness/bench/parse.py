"""Parse throughput and peak memory on >= 200 MB of real page_owner text, tool against tool.

The real 7.3 dumps of tests/data/real-7.3 are concatenated until the input
holds at least TARGET_MB. Each tool runs once, in its own process, measured
from the outside (wall time, peak RSS via wait4): `mmharness parse` end to end
(default grouping, as page_owner_sort's default, and --cull comm), the
library's one-pass summarise, page_owner_sort built from the kernel tree
(default, and --cull name), and the cover letter's awk one-liner. Ratios
are against page_owner_sort's default run, measured in the same run.
"""

from __future__ import annotations

import lzma
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from harness import paths
from harness.build import source
from harness.errors import HarnessError
from harness.results.page_owner_sort import build_page_owner_sort

TARGET_MB = 200
REAL = paths.REPO_ROOT / "tests/data/real-7.3"
DUMPS = ("round-trip/page_owner-dd.txt.xz", "round-trip/page_owner-cat.txt.xz", "modes/page_owner.txt.xz")
AWK_TOTAL = "/^Page allocated/ { PAGES+=2^$5 } END { print PAGES*4096/1024^2 \" MiB\" }"
SUMMARISE = ("import sys; from harness.results.parse import summarise; "
             "s = summarise(open(sys.argv[1], 'rb')); print(s.total.records, s.total_mib)")


@dataclass(frozen=True)
class Measure:
    name: str
    seconds: float
    peak_rss_mib: float


# Runs one tool and prints "seconds peak_rss_kib". Linux's ru_maxrss carries the RSS the
# spawning process had across exec, so the spawner is this tiny `python -S` (~8 MiB),
# never the benchmark's own process.
MEASURE = """import os, sys, time
null = os.open(os.devnull, os.O_WRONLY)
started = time.monotonic()
pid = os.posix_spawnp(sys.argv[1], sys.argv[1:], os.environ, file_actions=[(os.POSIX_SPAWN_DUP2, null, 1)])
_, status, usage = os.wait4(pid, 0)
print(time.monotonic() - started, usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


def measure(name: str, argv: list[str], env: dict[str, str] | None = None) -> Measure:
    """Run argv once, its output thrown away: wall time and its own peak RSS."""
    result = subprocess.run([sys.executable, "-S", "-c", MEASURE, *argv], capture_output=True, text=True, env=env)
    try:
        seconds, peak_kib, code = result.stdout.split()
    except ValueError:
        code = "?"
    if result.returncode != 0 or code != "0":
        raise HarnessError(f"benchmark {name} failed (exit {code}): {' '.join(argv)}\n"
                           f"    {result.stderr.strip()[-500:]}")
    return Measure(name, float(seconds), int(peak_kib) / 1024)


def big_input(directory: Path) -> Path:
    """The real dumps, decompressed and concatenated (each ends in its blank line) up to TARGET_MB."""
    big = directory / "page_owner-big.txt"
    with open(big, "wb") as out:
        copied = 0
        while out.tell() < TARGET_MB * 10**6:
            with lzma.open(REAL / DUMPS[copied % len(DUMPS)]) as dump:
                shutil.copyfileobj(dump, out, 1 << 20)
            copied += 1
    return big


def bench_parse() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="bench-parse-") as tmp:
        work = Path(tmp)
        big = big_input(work)
        size_mb = big.stat().st_size / 10**6
        page_owner_sort = build_page_owner_sort(source.fetch(source.SourceSpec()).path, work / "build")
        env = {**os.environ, "PYTHONPATH": str(paths.REPO_ROOT)}
        python = [sys.executable, "-m", "harness", "parse", str(big), "-o", os.devnull]
        yield f"input: {size_mb:.0f} MB of real Linux 7.3 page_owner text ({', '.join(DUMPS)}, in turn)"
        runs = [
            ("page_owner_sort (default)", [str(page_owner_sort), str(big), os.devnull], None),
            ("page_owner_sort --cull name", [str(page_owner_sort), "--cull", "name", str(big), os.devnull], None),
            ("mmharness parse (default)", python, env),
            ("mmharness parse --cull comm", [*python, "--cull", "comm"], env),
            ("parse.summarise (8 dimensions)", [sys.executable, "-c", SUMMARISE, str(big)], env),
            ("awk one-liner (total)", ["gawk", "-F", "[ ,]", AWK_TOTAL, str(big)], None),
        ]
        results = [measure(name, argv, env) for name, argv, env in runs]
        floor = measure("true", ["true"])
    base = results[0]
    yield f"{'tool':32} {'seconds':>8} {'MB/s':>7} {'peak RSS MiB':>13} {'time/pos':>9} {'RSS/pos':>8}"
    for result in results:
        yield (f"{result.name:32} {result.seconds:8.2f} {size_mb / result.seconds:7.1f} "
               f"{result.peak_rss_mib:13.1f} {result.seconds / base.seconds:9.2f} "
               f"{result.peak_rss_mib / base.peak_rss_mib:8.3f}")
    yield (f"pos: page_owner_sort default, built by tools/mm's own Makefile (no -O, as the kernel ships it); "
           f"peak RSS floor {floor.peak_rss_mib:.1f} MiB (inherited from the measuring process)")
