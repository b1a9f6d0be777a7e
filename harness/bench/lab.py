"""Booting the manifest's kernel outside pytest, for benchmarks (through harness.run.session)."""

import contextlib
import statistics
import time
from pathlib import Path

from harness import paths
from harness.build import manifest as manifests, pipeline
from harness.run import session
from harness.run.machine import MachineSpec


def kernel(manifest_name: str = "default", label: str | None = None) -> pipeline.KernelUnderTest:
    return session.kernel_under_test(manifests.load(manifest_name), label, say=lambda text: None)


def spec_for(kut: pipeline.KernelUnderTest, cmdline: str = "", **overrides) -> MachineSpec:
    return session.machine_spec(kut, session.Overrides.of(cmdline, overrides))


@contextlib.contextmanager
def booted(kut: pipeline.KernelUnderTest, spec: MachineSpec, label: str, results: Path):
    image = session.guest_image(kut.manifest.guest)
    with session.booted(spec, image, results / paths.safe_name(label)) as vm:
        yield vm


def results_dir(name: str) -> Path:
    return paths.new_results_dir(f"bench-{name}")


def median(values: list[float]) -> float:
    return statistics.median(values)


def timed(function) -> tuple[float, object]:
    started = time.monotonic()
    value = function()
    return time.monotonic() - started, value
