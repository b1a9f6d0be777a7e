"""One VM of a manifest's kernel outside pytest, as the pytest plugin's `machine` fixture boots it."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

from harness import guest, manifest as manifests, paths, pipeline
from harness.errors import HarnessError
from harness.machine import Disk, Machine, MachineSpec


def kernel_of(manifest: manifests.Manifest, label: str | None = None) -> Path:
    """The vmlinux of the manifest's first bootable build (or of `label`): cached, else built."""
    built = pipeline.build_all(manifest, say=lambda text: None)
    for configured, result in built:
        if (label is None and configured.boots) or configured.ref.label == label:
            return result.vmlinux
    raise HarnessError(f"manifest {manifest.name}: no bootable build {label or ''}",
                       hint=f"builds: {', '.join(c.ref.label for c, _ in built)}")


@contextlib.contextmanager
def booted(manifest_name: str = "upstream-7.3", cmdline: str = "page_owner=on", *,
           results_dir: Path | None = None, label: str | None = None,
           kernel: Path | None = None) -> Iterator[Machine]:
    """Boot the manifest's kernel with its machine defaults (swap disk included); shut down on exit."""
    manifest = manifests.load(manifest_name)
    vmlinux = Path(kernel) if kernel else kernel_of(manifest, label)
    image = guest.build_guest(guest.load_guest(manifest.guest))
    defaults = manifest.machine
    spec = MachineSpec(kernel=vmlinux, cmdline=cmdline, memory_mb=defaults.memory_mb, cpus=defaults.cpus,
                       disks=(Disk(defaults.swap_disk_mb, swap=True),))
    with Machine(spec, image, results_dir or paths.new_results_dir("bench")) as vm:
        yield vm
