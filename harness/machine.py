"""QEMU machines: the command line from a dataclass, boot, console, shutdown.

The console (ttyS0 on QEMU's stdio, through a pexpect pty) is drained by a
reader thread for the whole life of the VM: every byte goes to console.log
and every line is checked for kernel crash patterns, so a crash is caught
whatever the harness is doing at the time. No QEMU outlives the harness:
each one is killed by PID in `finally`, at exit, on SIGTERM/SIGHUP, and by
the kernel (PR_SET_PDEATHSIG) if the harness itself is killed.
"""

import atexit
import codecs
import ctypes
import fcntl
import os
import re
import shlex
import shutil
import signal
import socket
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pexpect

from harness import crash, paths
from harness.errors import HarnessError
from harness.guest import INIT_FATAL, GuestImage
from harness.proc import require_tools, run
from harness.ssh import Shell

QEMU = "qemu-system-x86_64"
BASE_CMDLINE = ("console=ttyS0 root=/dev/vda rootfstype=ext4 rw "
                "init=/sbin/mmharness-init panic=-1")
ACCELS = ("auto", "kvm", "tcg")
# QEMU's message when the host side of the SSH forward is taken.
PORT_TAKEN = "Could not set up host forwarding rule"
REBOOT_COMMAND = "/sbin/mmharness-init reboot"
KILL_GRACE = 5.0  # seconds between SIGTERM and SIGKILL


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
    kernel: Path  # vmlinux, booted through its PVH entry (CONFIG_PVH)
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

    def __post_init__(self) -> None:  # accept str paths and lists from callers and YAML
        object.__setattr__(self, "kernel", Path(self.kernel))
        object.__setattr__(self, "disks", tuple(self.disks))
        object.__setattr__(self, "extra_args", tuple(self.extra_args))


def detect_accel(requested: str = "auto", *, cpuinfo: str | None = None,
                 kvm_device: Path = Path("/dev/kvm")) -> str:
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
    hardware = any(re.search(r"\b(vmx|svm)\b", line)
                   for line in cpuinfo.splitlines() if line.startswith("flags"))
    return "kvm" if usable and hardware else "tcg"


def qemu_command(spec: MachineSpec, *, rootfs: Path, ssh_port: int,
                 disk_files: list[Path] = (), accel: str = "tcg") -> list[str]:
    """The QEMU argv (pure: no files touched, no processes)."""
    cpu = spec.cpu or ("host" if accel == "kvm" else "qemu64")
    cmdline = f"{BASE_CMDLINE} {spec.cmdline}".strip()
    argv = [
        QEMU,
        # -nodefaults and an explicit -serial instead of -nographic: no monitor
        # multiplexed on stdio, so every byte sent reaches the guest as it is.
        "-nodefaults", "-no-user-config", "-display", "none",
        "-serial", "stdio", "-monitor", "none",
        "-machine", "pc", "-accel", accel, "-cpu", cpu,
        "-smp", str(spec.cpus), "-m", str(spec.memory_mb),
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


@dataclass
class PortLease:
    """A loopback TCP port reserved for one VM by a lock file under the cache."""
    port: int
    lock_file: object = field(repr=False, default=None)

    def release(self) -> None:
        if self.lock_file is not None:
            self.lock_file.close()
            self.lock_file = None


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _lock_port(port: int, lock_dir: Path):
    handle = open(lock_dir / f"{port}.lock", "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


def reserve_port(requested: int = 0, lock_dir: Path | None = None) -> PortLease:
    """A free port on 127.0.0.1. Locks keep parallel harness runs apart; a port
    some other program grabs before QEMU binds it makes boot retry (see Machine)."""
    lock_dir = lock_dir or paths.cache_dir("ports")
    if requested:
        handle = _lock_port(requested, lock_dir)
        if handle is None or not _port_free(requested):
            if handle:
                handle.close()
            raise HarnessError(f"port {requested} on 127.0.0.1 is already in use",
                               hint="choose another ssh_port, or 0 to pick a free one")
        return PortLease(requested, handle)
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        handle = _lock_port(port, lock_dir)
        if handle is not None:
            return PortLease(port, handle)
    raise HarnessError("no free TCP port on 127.0.0.1 for the guest's SSH forward")


# --- making sure no QEMU survives -------------------------------------------

_LIVE: dict[int, "Machine"] = {}
_handlers_installed = False
_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # Runs in the forked child. The signal fires when the forking *thread*
    # exits, so boot machines from a thread that outlives them (the main one).
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _kill_all() -> None:
    machines = list(_LIVE.items())
    _LIVE.clear()
    for pid, _ in machines:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for _, machine in machines:  # their console threads reap them: no zombies left
        if machine._console is not None:
            machine._console.exited.wait(2.0)


def _install_handlers() -> None:
    global _handlers_installed
    if _handlers_installed or threading.current_thread() is not threading.main_thread():
        return
    _handlers_installed = True
    atexit.register(_kill_all)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        previous = signal.getsignal(signum)

        def handler(sig, frame, previous=previous):
            _kill_all()
            if callable(previous):
                previous(sig, frame)
            elif previous != signal.SIG_IGN:
                signal.signal(sig, signal.SIG_DFL)
                os.kill(os.getpid(), sig)

        signal.signal(signum, handler)


# --- the console -------------------------------------------------------------

class Console(threading.Thread):
    """Drains QEMU's stdio: tees to console.log, decodes, classifies lines."""

    def __init__(self, child: pexpect.spawn, log_path: Path, phase: Callable[[], str]):
        super().__init__(name=f"console-{child.pid}", daemon=True)
        self.child = child
        self.log = log_path.open("ab")
        self._phase = phase
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._parts: list[str] = []
        self._partial_line = ""
        self._lines = 0
        self.lock = threading.Lock()
        self.exited = threading.Event()
        self.crash_phases: dict[int, str] = {}  # console line number -> phase it was seen in
        self.exitstatus: int | None = None
        self.signalstatus: int | None = None

    def run(self) -> None:
        try:
            while True:
                try:
                    data = self.child.read_nonblocking(1 << 16, timeout=0.2)
                except pexpect.TIMEOUT:
                    continue
                except (pexpect.EOF, OSError):
                    break
                self.log.write(data)
                self.log.flush()
                self._feed(self._decoder.decode(data).replace("\r", ""))
        finally:
            with self.lock:  # a last line without a newline
                if self._partial_line and crash.classify(self._partial_line) not in (None, *crash.NOT_FATAL):
                    self.crash_phases.setdefault(self._lines + 1, self._phase())
            try:
                self.child.wait()
            except Exception:  # already reaped by pexpect
                pass
            self.exitstatus = self.child.exitstatus
            self.signalstatus = self.child.signalstatus
            self.log.close()
            self.exited.set()

    def _feed(self, text: str) -> None:
        with self.lock:
            self._parts.append(text)
            lines = (self._partial_line + text).split("\n")
            self._partial_line = lines.pop()
            for line in lines:
                self._lines += 1
                if crash.classify(line) not in (None, *crash.NOT_FATAL):
                    self.crash_phases.setdefault(self._lines, self._phase())

    def text(self) -> str:
        with self.lock:
            joined = "".join(self._parts)
            self._parts = [joined]
            return joined

    def last_lines(self, count: int = 25) -> str:
        lines = self.text().rstrip("\n").splitlines()[-count:]
        return "\n    ".join(lines) if lines else "(no console output)"

    def exit_description(self) -> str:
        if self.signalstatus is not None:
            try:
                name = signal.Signals(self.signalstatus).name
            except ValueError:
                name = "?"
            return f"killed by signal {self.signalstatus} ({name})"
        return f"exit status {self.exitstatus}"


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
                               hint="build the guest with harness.guest.build_guest")
        if self.guest.ready_marker in spec.cmdline:
            raise HarnessError("the kernel command line must not contain the ready marker "
                               f"{self.guest.ready_marker!r}: the kernel echoes its command line")
        require_tools(QEMU, purpose="booting a guest")
        self.accel = detect_accel(spec.accel)
        self.results_dir.mkdir(parents=True, exist_ok=True)
        _install_handlers()
        self._workdir = Path(tempfile.mkdtemp(prefix="vm-", dir=paths.cache_dir("machines")))
        try:
            disk_files = self._make_disks()
            for _ in range(3):
                self._lease = reserve_port(spec.ssh_port)
                self.port = self._lease.port
                argv = qemu_command(spec, rootfs=self.guest.rootfs, ssh_port=self.port,
                                    disk_files=disk_files, accel=self.accel)
                if self._start(argv) == "ready":
                    break
                self._release()  # another program took the port between probe and bind
            else:
                raise HarnessError("phase 'boot': QEMU could not bind a free port for SSH "
                                   "three times in a row", artifacts=[str(self.console_log)])
            self.phase = "command"
        except BaseException:
            self._finish()
            raise

    def _make_disks(self) -> list[Path]:
        files = []
        for index, disk in enumerate(self.spec.disks):
            path = self._workdir / f"disk{index}.img"
            with path.open("wb") as handle:
                handle.truncate(disk.size_mb << 20)
            if disk.swap:
                run(["mkswap", str(path)], what=f"mkswap for extra disk {Disk.device(index)}")
            files.append(path)
        return files

    def _start(self, argv: list[str]) -> str:
        """Spawn QEMU and wait for the ready marker. Returns "ready" or "port taken"."""
        (self.results_dir / "qemu.cmd").write_text(shlex.join(argv) + "\n")
        started = time.monotonic()
        self._child = pexpect.spawn(argv[0], argv[1:], timeout=None, echo=False,
                                    preexec_fn=_die_with_parent)
        _LIVE[self._child.pid] = self
        self._console = Console(self._child, self.console_log, lambda: self.phase)
        self._console.start()
        marker = self.guest.ready_marker
        deadline = started + self.spec.boot_timeout
        while True:
            text = self._console.text()
            if marker in text:
                self.boot_seconds = round(time.monotonic() - started, 2)
                return "ready"
            if INIT_FATAL in text:
                line = text[text.index(INIT_FATAL):].split("\n")[0]
                self._fail_boot(f"the guest's init failed: {line}",
                                hint="see console.log; the kernel may lack an option the "
                                     "guest needs")
            if crash.panicked(text):
                self._console.exited.wait(5)  # let the rest of the panic report arrive
                self._fail_boot("the kernel panicked")
            if self._console.exited.is_set():
                if PORT_TAKEN in text:
                    if self.spec.ssh_port:
                        self._fail_boot(f"port {self.port} on 127.0.0.1 is already in use",
                                        hint="choose another ssh_port, or 0 to pick one")
                    self._kill_and_reap()
                    return "port taken"
                hint = ""
                if "PVH ELF Note" in text:
                    hint = "the kernel needs CONFIG_PVH=y to boot as vmlinux"
                self._fail_boot(f"QEMU exited ({self._console.exit_description()}) before "
                                "the guest was ready", hint=hint)
            if time.monotonic() > deadline:
                self._fail_boot(
                    f"the guest did not print the ready marker {marker!r} within "
                    f"{self.spec.boot_timeout:g} s",
                    hint="check init= and root= on the kernel command line, and that the "
                         "kernel has the guest baseline (virtio-blk, ext4, devtmpfs, serial)")
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
        """Crash reports that fail the run (see crash.NOT_FATAL for the others)."""
        return crash.fatal(self.console_reports())

    def notices(self) -> list[crash.CrashReport]:
        """Reports worth showing that are not failures, e.g. page allocation failures."""
        return crash.notices(self.console_reports())

    def console_reports(self) -> list[crash.CrashReport]:
        return crash.scan(self._console.text()) if self._console else []

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
        _LIVE.pop(self._child.pid, None)

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
