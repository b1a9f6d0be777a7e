"""Booting the manifest's kernel outside pytest, for benchmarks."""

import contextlib
import re
import statistics
import time
from pathlib import Path

from harness import guest, manifest as manifests, paths, pipeline
from harness.machine import Disk, Machine, MachineSpec


def kernel(manifest_name: str = "default", label: str | None = None) -> pipeline.KernelUnderTest:
    return pipeline.bootable_kernel(manifests.load(manifest_name), label, say=lambda text: None)


def spec_for(kut: pipeline.KernelUnderTest, cmdline: str = "") -> MachineSpec:
    machine = kut.manifest.machine
    return MachineSpec(kernel=kut.vmlinux, cmdline=cmdline, memory_mb=machine.memory_mb, cpus=machine.cpus,
                       disks=(Disk(machine.swap_disk_mb, swap=True),))


@contextlib.contextmanager
def booted(kut: pipeline.KernelUnderTest, spec: MachineSpec, label: str, results: Path):
    image = guest.build_guest(guest.load_guest(kut.manifest.guest))
    with Machine(spec, image, results / re.sub(r"[^\w.-]+", "_", label)) as vm:
        yield vm


def results_dir(name: str) -> Path:
    return paths.new_results_dir(f"bench-{name}")


def median(values: list[float]) -> float:
    return statistics.median(values)


def timed(function) -> tuple[float, object]:
    started = time.monotonic()
    value = function()
    return time.monotonic() - started, value

