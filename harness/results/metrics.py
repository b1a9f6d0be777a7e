"""Figures a kernel test measured, kept per test as metrics.json for `mmharness compare`.

A result set is a results directory (one pytest session, or any tree of
them) and optionally one kernel in it: every metrics.json below the
directory contributes its samples, keyed by kernel and metric name.
"""

import json
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.errors import HarnessError

FILE = "metrics.json"


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str
    samples: tuple[float, ...]
    method: str = ""  # how it was measured, in a few words


def record(results_dir: Path, kernel: str, metric: Metric) -> None:
    """Add one metric of `kernel` to the test's metrics.json (written at once, so a later failure keeps it)."""
    path = results_dir / FILE
    data = json.loads(path.read_text()) if path.is_file() else {"kernel": kernel, "metrics": []}
    if data["kernel"] != kernel:
        raise HarnessError(f"{path} holds metrics of {data['kernel']}, not {kernel}")
    data["metrics"] = [m for m in data["metrics"] if m["name"] != metric.name] + [asdict(metric)]
    path.write_text(json.dumps(data, indent=2) + "\n")


@dataclass(frozen=True)
class ResultSet:
    label: str  # what a table calls it: the kernel, or the directory
    metrics: dict[str, Metric]


def kernels_in(directory: Path) -> dict[str, list[Path]]:
    found: dict[str, list[Path]] = defaultdict(list)
    for path in sorted(directory.rglob(FILE)):
        try:
            found[json.loads(path.read_text())["kernel"]].append(path)
        except (ValueError, KeyError, TypeError) as error:
            raise HarnessError(f"{path}: not a metrics file ({error})") from None
    return dict(found)


def load(spec: str) -> ResultSet:
    """DIR or DIR#KERNEL: the samples of one kernel in a results directory."""
    directory, _, kernel = spec.partition("#")
    root = Path(directory)
    if not root.is_dir():
        raise HarnessError(f"result set {spec!r}: {root} is not a directory",
                           hint="give a results directory, e.g. ~/.cache/mmharness/results/kernel-...")
    kernels = kernels_in(root)
    if not kernels:
        raise HarnessError(f"result set {spec!r}: no {FILE} under {root}",
                           hint="run a suite that records metrics, e.g. tests/kernel/test_swap_table.py")
    if not kernel:
        if len(kernels) > 1:
            raise HarnessError(f"result set {spec!r}: {root} has results of {len(kernels)} kernels",
                               hint="pick one: " + ", ".join(f"{directory}#{name}" for name in kernels))
        kernel = next(iter(kernels))
    if kernel not in kernels:
        raise HarnessError(f"result set {spec!r}: no results of kernel {kernel!r}",
                           hint="kernels there: " + ", ".join(kernels))
    merged: dict[str, Metric] = {}
    for path in kernels[kernel]:
        for entry in json.loads(path.read_text())["metrics"]:
            metric = Metric(entry["name"], entry["unit"], tuple(entry["samples"]), entry.get("method", ""))
            old = merged.get(metric.name)
            merged[metric.name] = metric if old is None else Metric(
                metric.name, metric.unit, old.samples + metric.samples, old.method or metric.method)
    return ResultSet(kernel, merged)
