"""The QEMU command line and the accelerator choice, with the architecture's facts as data."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.run.machine_spec import MachineSpec


@dataclass(frozen=True)
class Arch:
    """What differs between guest architectures (cf. virtme-ng's architectures module)."""

    name: str  # the kernel's ARCH
    qemu: str  # the system emulator
    machine: str  # -machine
    console: str  # the serial console's name in the guest
    kvm_flags: tuple[str, ...]  # /proc/cpuinfo flags that mean hardware virtualisation
    tcg_cpu: str  # -cpu under TCG (qemu64: much faster than max)
    kvm_cpu: str = "host"


ARCHES = {
    "x86": Arch(name="x86", qemu="qemu-system-x86_64", machine="pc", console="ttyS0",
                kvm_flags=("vmx", "svm"), tcg_cpu="qemu64"),
}
HOST_ARCH = ARCHES["x86"]

QEMU = HOST_ARCH.qemu
BASE_CMDLINE = (f"console={HOST_ARCH.console} root=/dev/vda rootfstype=ext4 rw "
                "init=/sbin/mmharness-init panic=-1")
ACCELS = ("auto", "kvm", "tcg")
# QEMU's message when the host side of the SSH forward is taken.
PORT_TAKEN = "Could not set up host forwarding rule"


def detect_accel(requested: str = "auto", *, cpuinfo: str | None = None,
                 kvm_device: Path = Path("/dev/kvm"), arch: Arch = HOST_ARCH) -> str:
    """'kvm' or 'tcg'. A /dev/kvm without vmx/svm (e.g. a PVM-only backend) hangs guests."""
    if requested == "auto":
        requested = os.environ.get("MMHARNESS_ACCEL", "auto") or "auto"
    if requested not in ACCELS:
        raise HarnessError(f"unknown accelerator {requested!r}", hint=f"use one of {ACCELS}")
    if requested == "tcg":
        return "tcg"
    usable = kvm_device.exists() and os.access(kvm_device, os.R_OK | os.W_OK)
    if requested == "kvm":
        if not usable:
            raise HarnessError(f"accel kvm requested but {kvm_device} is not usable",
                               hint="use accel: auto or tcg")
        return "kvm"
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    flags = re.compile(r"\b(" + "|".join(map(re.escape, arch.kvm_flags)) + r")\b")
    hardware = any(flags.search(line) for line in cpuinfo.splitlines() if line.startswith("flags"))
    return "kvm" if usable and hardware else "tcg"


def qemu_command(spec: MachineSpec, *, rootfs: Path, ssh_port: int,
                 disk_files: list[Path] = (), accel: str = "tcg", arch: Arch = HOST_ARCH) -> list[str]:
    """The QEMU argv (pure: no files touched, no processes)."""
    cpu = spec.cpu or (arch.kvm_cpu if accel == "kvm" else arch.tcg_cpu)
    cmdline = f"{BASE_CMDLINE} {spec.cmdline}".strip()
    argv = [
        arch.qemu,
        # -nodefaults and an explicit -serial instead of -nographic: no monitor
        # multiplexed on stdio, so every byte sent reaches the guest as it is.
        "-nodefaults", "-no-user-config", "-display", "none",
        "-serial", "stdio", "-monitor", "none",
        "-machine", arch.machine, "-accel", accel, "-cpu", cpu,
        # One socket per vCPU: the kernels have no ACPI, so Linux finds CPUs in
        # SeaBIOS's MP table, which lists one CPU per socket (`-smp 2` alone is
        # one socket with two cores, and the guest came up with 1 CPU).
        "-smp", f"{spec.cpus},sockets={spec.cpus},cores=1,threads=1", "-m", str(spec.memory_mb),
        "-no-reboot",
        "-kernel", str(spec.kernel), "-append", cmdline,
        "-drive", f"file={rootfs},if=virtio,format=raw,snapshot=on",
    ]
    for disk in disk_files:
        argv += ["-drive", f"file={disk},if=virtio,format=raw,cache=unsafe"]
    argv += [
        "-netdev", f"user,id=net0,hostfwd=tcp:127.0.0.1:{ssh_port}-:22",
        "-device", "virtio-net-pci,netdev=net0",
        "-device", "virtio-rng-pci",
        *spec.extra_args,
    ]
    return argv
