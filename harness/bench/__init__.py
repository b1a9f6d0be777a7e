"""Benchmarks: `python -m harness.bench [NAME...]` runs all of them, or the named ones.

A benchmark is a function with no arguments that returns (or yields) lines of
text, `def bench_NAME() -> Iterable[str]`, in a module of this package,
registered below as NAME -> "module:function". The runner prints each line as it comes
(so a generator shows progress) and imports a module only when one of its
benchmarks runs. Lines say what was measured, on what, with units.
"""

from __future__ import annotations

import importlib
import sys
import time
from typing import Callable, Iterable

from harness.errors import HarnessError

Benchmark = Callable[[], Iterable[str]]

BENCHMARKS: dict[str, str] = {
    "parse": "parse:bench_parse",
    "snapshot": "snapshot:bench_snapshot",
    "swap_snapshot": "snapshot:bench_swap_snapshot",
    "boot": "boot:bench_boot",
    "round_trip": "round_trip:bench_round_trip",
    "ghost": "ghost:bench_ghost",
    "build": "build:bench_build",
    "parallel": "parallel:bench_parallel",
    "scalability": "scalability:bench_scalability",
}


def load(name: str) -> Benchmark:
    module, _, function = BENCHMARKS[name].partition(":")
    return getattr(importlib.import_module(f"{__name__}.{module}"), function)


def main(argv: list[str] | None = None) -> int:
    names = list(sys.argv[1:] if argv is None else argv) or list(BENCHMARKS)
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    for name in names:
        print(f"== {name}", flush=True)
        started = time.monotonic()
        try:
            for line in load(name)():
                print(line, flush=True)
        except HarnessError as error:
            print(f"bench {name}: error: {error}", file=sys.stderr)
            return 1
        print(f"== {name}: {time.monotonic() - started:.1f} s", flush=True)
    return 0
