"""From a manifest to a booted guest: the kernel, the machine spec, the guest image, the VM.

The one place that wires guest -> machine -> shell; the pytest plugin, the
benchmarks and `mmharness boot` all go through it:

    kut = kernel_under_test(manifests.load("default"))
    spec = machine_spec(kut, Overrides(cmdline="page_owner=on"))
    with booted(spec, guest_image(kut.manifest.guest), results_dir) as vm:
        vm.shell().check("uname -r")
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, fields
from pathlib import Path

from harness import locks
from harness.build import guest, pipeline
from harness.build.manifest import Manifest
from harness.build.pipeline import KernelUnderTest, Say
from harness.errors import HarnessError
from harness.run.machine import Disk, Machine, MachineSpec

SPEC_FIELDS = frozenset(one.name for one in fields(MachineSpec)) - {"kernel"}


@dataclass(frozen=True)
class Overrides:
    """What a test, benchmark or command changes of the manifest's machine defaults.

    None keeps the manifest's value; `disks` None is the manifest's one swap
    disk, () none at all. `other` holds any further MachineSpec fields
    (boot_timeout, accel, ssh_port, ...) as sorted (name, value) pairs."""

    cmdline: str = ""
    memory_mb: int | None = None
    cpus: int | None = None
    disks: tuple[Disk, ...] | None = None
    other: tuple[tuple[str, object], ...] = ()

    def __post_init__(self) -> None:
        if self.disks is not None:
            object.__setattr__(self, "disks", tuple(self.disks))
        unknown = sorted(name for name, _ in self.other if name not in SPEC_FIELDS)
        if unknown:
            raise HarnessError(f"unknown machine setting(s): {', '.join(unknown)}",
                               hint=f"MachineSpec has: {', '.join(sorted(SPEC_FIELDS))}")

    @classmethod
    def of(cls, cmdline: str = "", settings: Mapping[str, object] | None = None) -> Overrides:
        """From keyword overrides such as `@pytest.mark.machine(memory_mb=768, disks=())`."""
        rest = dict(settings or {})
        return cls(cmdline=cmdline, memory_mb=rest.pop("memory_mb", None), cpus=rest.pop("cpus", None),
                   disks=rest.pop("disks", None), other=tuple(sorted(rest.items())))


def kernel_under_test(manifest: Manifest, label: str | None = None, *, say: Say = locks.print_now,
                      vmlinux: Path | None = None) -> KernelUnderTest:
    """The manifest's bootable kernel (built or reused), or `vmlinux` given by hand."""
    if vmlinux is not None:
        return given_kernel(manifest, Path(vmlinux))
    return pipeline.bootable_kernel(manifest, label, say=say)


def given_kernel(manifest: Manifest, vmlinux: Path) -> KernelUnderTest:
    """A vmlinux from elsewhere (pytest --kernel): its config is beside it in a harness
    build directory, else in an O= directory's .config."""
    config = vmlinux.parent / "config"
    return KernelUnderTest(manifest, "--kernel", vmlinux, vmlinux.parent / "arch/x86/boot/bzImage",
                           config if config.is_file() else vmlinux.parent / ".config", vmlinux.parent, ())


def machine_spec(kernel: KernelUnderTest, overrides: Overrides = Overrides()) -> MachineSpec:
    """The manifest's machine defaults (memory, vCPUs, one swap disk, boot timeout) with `overrides` on top."""
    defaults = kernel.manifest.machine
    disks = overrides.disks if overrides.disks is not None else (Disk(defaults.swap_disk_mb, swap=True),)
    return MachineSpec(
        kernel=boot_image(kernel), cmdline=overrides.cmdline,
        memory_mb=defaults.memory_mb if overrides.memory_mb is None else overrides.memory_mb,
        cpus=defaults.cpus if overrides.cpus is None else overrides.cpus,
        disks=disks, **{"boot_timeout": defaults.boot_timeout, **dict(overrides.other)})


def boot_image(kernel: KernelUnderTest) -> Path:
    """What the machine boots: vmlinux through its PVH entry, except on a KASAN kernel,
    whose PVH entry dies under QEMU before the first console byte (7.3 debug build,
    TCG): that one boots its bzImage through the setup code."""
    if kernel.config.is_file() and kernel.config_value("KASAN") == "y" and kernel.bzimage.is_file():
        return kernel.bzimage
    return kernel.vmlinux


def guest_image(name: str, say: Say = locks.print_now) -> guest.GuestImage:
    """The guest image `name` (a manifest's `guest`), built or taken from the cache."""
    return guest.build_guest(guest.load_guest(name), say=say)


@contextlib.contextmanager
def booted(spec: MachineSpec, image: guest.GuestImage, results_dir: Path, *,
           on_exit: Callable[[Machine], None] | None = None) -> Iterator[Machine]:
    """Boot a Machine, yield it, shut it down (raising on a crash at any time).

    `on_exit(vm)` runs last, whether the boot, the body or the shutdown failed
    (e.g. to collect the console's notices). The shell is `vm.shell()`."""
    vm = Machine(spec, image, results_dir)
    try:
        with vm:
            yield vm
    finally:
        if on_exit is not None:
            on_exit(vm)
