"""What a machine is: memory, vCPUs, extra disks, kernel and command line (pure data)."""

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Disk:
    size_mb: int
    swap: bool = False  # mkswap on the host, so the guest can `swapon` it at once

    @staticmethod
    def device(index: int) -> str:
        """Guest device of the index-th extra disk (the rootfs is /dev/vda)."""
        return f"/dev/vd{chr(ord('b') + index)}"


@dataclass(frozen=True)
class MachineSpec:
    kernel: Path  # vmlinux, booted through its PVH entry (CONFIG_PVH), or a bzImage
    cmdline: str = ""  # appended to BASE_CMDLINE, e.g. "page_owner=on"
    memory_mb: int = 512
    cpus: int = 2
    disks: tuple[Disk, ...] = ()
    accel: str = "auto"  # auto: KVM only with usable /dev/kvm and vmx/svm; else TCG
    cpu: str = ""  # default: qemu64 under TCG (much faster than max), host under KVM
    ssh_port: int = 0  # 0: pick a free port
    boot_timeout: float = 180.0
    shutdown_timeout: float = 60.0
    extra_args: tuple[str, ...] = ()
    # Crash kinds whose console lines the machine's owner judges by other means, so they
    # fail nothing on their own: on a kmemleak kernel the plugin reads kmemleak's report
    # (its scans print "kmemleak: N new suspected memory leaks", boot's leftovers too).
    judged_elsewhere: tuple[str, ...] = ()

    def __post_init__(self) -> None:  # accept str paths and lists from callers and YAML
        object.__setattr__(self, "kernel", Path(self.kernel))
        object.__setattr__(self, "disks", tuple(self.disks))
        object.__setattr__(self, "extra_args", tuple(self.extra_args))
        object.__setattr__(self, "judged_elsewhere", tuple(self.judged_elsewhere))
