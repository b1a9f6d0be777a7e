"""What the console says of a boot so far: ready, the SSH port taken, a failure, or nothing yet."""

import enum
from dataclasses import dataclass
from pathlib import Path

from harness.build.guest import INIT_FATAL
from harness.expected_totals import LastTotals
from harness.results import crash
from harness.run.qemu import PORT_TAKEN


class Started(enum.Enum):
    """How one QEMU start ended (Machine._start); failures other than these raise."""
    READY = "ready"  # the guest printed its ready marker
    PORT_TAKEN = "port taken"  # another program bound the SSH port first: retry with another


@dataclass(frozen=True)
class LastBootSeconds:
    """What a boot's progress expects: the last boot of this kernel under this accelerator,
    else of any kernel under it (TCG boots take ten times as long as KVM's)."""
    accel: str
    kernel: Path

    @property
    def keys(self) -> tuple[str, str]:
        return f"{self.accel} {self.kernel}", self.accel

    def expected(self) -> float | None:
        seconds = LastTotals.named("boot-seconds")
        return next((value for value in map(seconds.get, self.keys) if value is not None), None)

    def record(self, value: float) -> None:
        seconds = LastTotals.named("boot-seconds")
        for key in self.keys:
            seconds.record(key, value)


@dataclass(frozen=True)
class BootFailure:
    what: str
    hint: str = ""
    panicked: bool = False  # the rest of the panic report is worth waiting for


@dataclass(frozen=True)
class BootWatch:
    marker: str  # the guest's ready marker
    timeout: float  # seconds
    fixed_port: int  # the spec's ssh_port; 0: QEMU may be started again on another port

    def verdict(self, text: str, exit_description: str | None, port: int,
                elapsed: float) -> Started | BootFailure | None:
        """`text`: the console so far; `exit_description`: how QEMU exited, None while it runs."""
        if self.marker in text:
            return Started.READY
        if INIT_FATAL in text:
            line = text[text.index(INIT_FATAL):].split("\n")[0]
            return BootFailure(f"the guest's init failed: {line}",
                               hint="see console.log; the kernel may lack an option the guest needs")
        if crash.panicked(text):
            return BootFailure("the kernel panicked", panicked=True)
        if exit_description is not None:
            if PORT_TAKEN in text:
                if self.fixed_port:
                    return BootFailure(f"port {port} on 127.0.0.1 is already in use",
                                       hint="choose another ssh_port, or 0 to pick one")
                return Started.PORT_TAKEN
            hint = "the kernel needs CONFIG_PVH=y to boot as vmlinux" if "PVH ELF Note" in text else ""
            return BootFailure(f"QEMU exited ({exit_description}) before the guest was ready", hint=hint)
        if elapsed > self.timeout:
            return BootFailure(
                f"the guest did not print the ready marker {self.marker!r} within {self.timeout:g} s",
                hint="check init= and root= on the kernel command line, and that the "
                     "kernel has the guest baseline (virtio-blk, ext4, devtmpfs, serial)")
        return None
