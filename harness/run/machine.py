"""QEMU machines: boot, console, shutdown, one VM's lifecycle.

The parts, one job each: harness.run.qemu (the command line, the accelerator),
harness.run.ports (the SSH forward's port), harness.run.console (the reader thread
that keeps console.log and the crash reports), harness.run.boot_watch (what the
console says of the boot), harness.run.disk_images (the extra disks) and
harness.run.reaper (no QEMU outlives the harness: killed by PID in `finally`,
at exit, on SIGTERM/SIGHUP, and by the kernel if the harness itself is killed).
"""

import os
import shlex
import shutil
import signal
import tempfile
import time
from pathlib import Path

import pexpect

from harness import paths
from harness.build.guest import GuestImage
from harness.errors import HarnessError
from harness.proc import require_tools
from harness.progress import Progress, Unit
from harness.results import crash
from harness.run import reaper
from harness.run.boot_watch import BootFailure, BootWatch, LastBootSeconds, Started
from harness.run.console import Console
from harness.run.disk_images import make_disk_images
from harness.run.machine_spec import Disk, MachineSpec
from harness.run.ports import PortLease, reserve_port
from harness.run.qemu import ACCELS, BASE_CMDLINE, QEMU, detect_accel, qemu_command
from harness.run.ssh import Shell

__all__ = ["ACCELS", "BASE_CMDLINE", "QEMU", "Console", "Disk", "Machine", "MachineSpec", "PortLease",
           "Started", "detect_accel", "qemu_command", "reserve_port"]

REBOOT_COMMAND = "/sbin/mmharness-init reboot"
KILL_GRACE = 5.0  # seconds between SIGTERM and SIGKILL


# --- the machine ------------------------------------------------------------

class Machine:
    """One VM. Use as a context manager: boots on entry, shuts down on exit."""

    def __init__(self, spec: MachineSpec, guest: GuestImage, results_dir: Path):
        self.spec = spec
        self.guest = guest
        self.results_dir = Path(results_dir)
        self.console_log = self.results_dir / "console.log"
        self.commands_log = self.results_dir / "commands.log"
        self.phase = "boot"
        self.accel = ""
        self.port = 0
        self.boot_seconds = 0.0
        self._child: pexpect.spawn | None = None
        self._console: Console | None = None
        self._lease: PortLease | None = None
        self._shell: Shell | None = None
        self._workdir: Path | None = None
        self._closed = False

    # -- lifecycle

    def __enter__(self) -> "Machine":
        self.boot()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc is None:
            self.shutdown()
            return
        try:
            self.shutdown()
        except HarnessError as err:  # keep the original error; mention the second one
            exc.add_note(f"while shutting down: {err}")

    @property
    def pid(self) -> int | None:
        return self._child.pid if self._child else None

    def boot(self) -> None:
        spec = self.spec
        if not Path(spec.kernel).is_file():
            raise HarnessError(f"phase 'boot': kernel image {spec.kernel} not found",
                               hint="build the kernel first; the machine boots vmlinux (PVH)")
        if not self.guest.rootfs.is_file():
            raise HarnessError(f"phase 'boot': guest image {self.guest.rootfs} not found",
                               hint="build the guest with harness.build.guest.build_guest")
        if self.guest.ready_marker in spec.cmdline:
            raise HarnessError("the kernel command line must not contain the ready marker "
                               f"{self.guest.ready_marker!r}: the kernel echoes its command line")
        require_tools(QEMU, purpose="booting a guest")
        self.accel = detect_accel(spec.accel)
        self.results_dir.mkdir(parents=True, exist_ok=True)
        reaper.install_handlers()
        self._workdir = Path(tempfile.mkdtemp(prefix="vm-", dir=paths.cache_dir("machines")))
        try:
            disk_files = make_disk_images(self.spec.disks, self._workdir)
            for _ in range(3):
                self._lease = reserve_port(spec.ssh_port)
                self.port = self._lease.port
                argv = qemu_command(spec, rootfs=self.guest.rootfs, ssh_port=self.port,
                                    disk_files=disk_files, accel=self.accel)
                if self._start(argv) is Started.READY:
                    break
                self._release()  # another program took the port between probe and bind
            else:
                raise HarnessError("phase 'boot': QEMU could not bind a free port for SSH "
                                   "three times in a row", artifacts=[str(self.console_log)])
            self.phase = "command"
        except BaseException:
            self._finish()
            raise

    def _start(self, argv: list[str]) -> Started:
        """Spawn QEMU and wait for the ready marker."""
        (self.results_dir / "qemu.cmd").write_text(shlex.join(argv) + "\n")
        started = time.monotonic()
        self._child = pexpect.spawn(argv[0], argv[1:], timeout=None, echo=False,
                                    preexec_fn=reaper.die_with_parent)
        self._console = Console(self._child, self.console_log, lambda: self.phase)
        reaper.track(self._child.pid, self._console.exited)
        self._console.start()
        watch = BootWatch(self.guest.ready_marker, self.spec.boot_timeout, self.spec.ssh_port)
        last = LastBootSeconds(self.accel, Path(self.spec.kernel))
        with Progress(f"booting {self.results_dir.name} ({self.accel})", Unit.SECONDS, last.expected()) as progress:
            while True:
                exited = self._console.exit_description() if self._console.exited.is_set() else None
                verdict = watch.verdict(self._console.text(), exited, self.port, time.monotonic() - started)
                if verdict is Started.READY:
                    self.boot_seconds = round(time.monotonic() - started, 2)
                    last.record(self.boot_seconds)
                    return verdict
                if verdict is Started.PORT_TAKEN:
                    self._kill_and_reap()
                    return verdict
                if isinstance(verdict, BootFailure):
                    if verdict.panicked:
                        self._console.exited.wait(5)  # let the rest of the panic report arrive
                    self._fail_boot(verdict.what, hint=verdict.hint)
                progress.tick()
                time.sleep(0.1)

    def _fail_boot(self, what: str, hint: str = "") -> None:
        self._kill_and_reap()
        raise HarnessError(f"phase 'boot': {what}\n{self._evidence()}",
                           hint=hint, artifacts=[str(self.console_log)])

    def _evidence(self) -> str:
        """Crash reports if any, else the last console lines."""
        reports = self.crashes()
        if reports:
            return "kernel crash report(s):\n" + crash.summary(reports)
        return "last console lines:\n    " + self._console.last_lines()

    # -- while running

    def crashes(self) -> list[crash.CrashReport]:
        """Crash reports that fail the run (see crash.NOT_FATAL, spec.judged_elsewhere for the others)."""
        return [r for r in crash.fatal(self.console_reports()) if r.kind not in self.spec.judged_elsewhere]

    def notices(self) -> list[crash.CrashReport]:
        """Reports worth showing that are not failures, e.g. page allocation failures."""
        return crash.notices(self.console_reports())

    def console_reports(self) -> list[crash.CrashReport]:
        return self._console.reports() if self._console else []

    def console_text(self) -> str:
        return self._console.text() if self._console else ""

    def diagnose(self, doing: str, wait: float = 0.0) -> str:
        """For Shell: raise if the VM is gone; else return crash context (or "").

        `wait`: how long a QEMU that may be dying gets to be seen dead."""
        console = self._console
        if console is None:
            return ""
        if console.exited.wait(3.0 if not self._child_running() else wait):
            raise HarnessError(
                f"phase '{self.phase}': QEMU exited ({console.exit_description()}) while "
                f"{doing}\n{self._evidence()}",
                artifacts=[str(self.console_log), str(self.commands_log)])
        reports = self.crashes()
        return "kernel crash report(s) so far:\n" + crash.summary(reports) if reports else ""

    def _child_running(self) -> bool:
        try:
            stat = Path(f"/proc/{self._child.pid}/stat").read_text()
        except (OSError, AttributeError):
            return False
        return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")

    def shell(self, retry_seconds: float = 30.0) -> Shell:
        """The SSH shell (connected on first use, then reused)."""
        if self._shell is None:
            self.check_alive("connecting over SSH")
            self._shell = Shell.connect(
                self.port, client_key=self.guest.client_key, host_key=self.guest.host_key,
                log_path=self.commands_log, retry_seconds=retry_seconds,
                diagnose=self.diagnose)
        return self._shell

    def check_alive(self, doing: str = "checking the guest") -> None:
        if self._console is None or self._closed:
            raise HarnessError(f"{doing}: the machine is not running")
        if self._console.exited.is_set():
            self.diagnose(doing, 0.0)

    # -- shutdown

    def shutdown(self) -> None:
        """Reboot the guest (QEMU exits: -no-reboot), kill it if that takes too long.

        Raises if the guest did not stop in time or if the kernel reported a
        crash at any time during the run."""
        if self._closed or self._console is None:
            self._finish()
            return
        died_before = self._console.exited.is_set() or not self._child_running()
        self.phase = "shutdown"
        timed_out = False
        try:
            if not died_before:
                self._ask_reboot()
                if not self._console.exited.wait(self.spec.shutdown_timeout):
                    timed_out = True
        finally:
            self._finish()
        if died_before:
            raise HarnessError(
                f"phase 'command': QEMU exited ({self._console.exit_description()}) before "
                f"the harness shut it down\n{self._evidence()}",
                artifacts=[str(self.console_log)])
        if timed_out:
            raise HarnessError(
                f"phase 'shutdown': the guest did not stop within "
                f"{self.spec.shutdown_timeout:g} s; QEMU was killed\n{self._evidence()}",
                artifacts=[str(self.console_log)])
        reports = self.crashes()
        if reports:
            phases = sorted(set(self._console.crash_phases.values())) or ["unknown"]
            raise HarnessError(
                f"phase '{phases[0]}': the kernel reported {len(reports)} crash(es) "
                f"during the run (seen in phase {', '.join(phases)}):\n{crash.summary(reports)}",
                artifacts=[str(self.console_log)])

    def _ask_reboot(self) -> None:
        if self._shell is not None:
            try:
                self._shell.start(f"sync; {REBOOT_COMMAND}")
                return
            except HarnessError:
                pass
        # No SSH: the root shell our init keeps on the serial console.
        try:
            self._child.send(f"\n{REBOOT_COMMAND}\n".encode())
        except OSError:
            pass

    def _kill_and_reap(self) -> None:
        """SIGTERM, then SIGKILL, by PID; the console thread reaps the process."""
        if self._child is None or self._console is None:
            return
        for signum, grace in ((signal.SIGTERM, KILL_GRACE), (signal.SIGKILL, 5.0)):
            if self._console.exited.is_set():
                break
            try:
                os.kill(self._child.pid, signum)
            except ProcessLookupError:
                break
            self._console.exited.wait(grace)
        self._console.join(5)
        reaper.forget(self._child.pid)

    def _release(self) -> None:
        if self._lease:
            self._lease.release()
            self._lease = None

    def _finish(self) -> None:
        if self._shell is not None:
            self._shell.close()
            self._shell = None
        self._kill_and_reap()
        if self._child is not None:
            try:
                self._child.close(force=True)
            except Exception:  # already closed or reaped
                pass
        self._release()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
        self._closed = True
