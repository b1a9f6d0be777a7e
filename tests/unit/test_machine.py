import os
import socket
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from harness.build.guest import READY_MARKER, GuestImage
from harness.errors import HarnessError
from harness.run import machine
from harness.run.machine import Disk, Machine, MachineSpec, detect_accel, qemu_command, reserve_port

CPUINFO_PLAIN = "processor\t: 0\nflags\t\t: fpu vme de pse tsc msr hypervisor rdrand\n"
CPUINFO_VMX = "processor\t: 0\nflags\t\t: fpu vme de pse tsc msr vmx ept\n"


pytestmark = pytest.mark.usefixtures("cache")  # conftest: an empty cache under tmp_path


@pytest.fixture(autouse=True)
def no_accel_override(monkeypatch):
    monkeypatch.delenv("MMHARNESS_ACCEL", raising=False)


def option(argv, flag):
    return [argv[i + 1] for i, arg in enumerate(argv) if arg == flag]


def test_qemu_command_tcg():
    spec = MachineSpec(kernel=Path("/k/vmlinux"), cmdline="page_owner=on", memory_mb=768, cpus=2,
                       disks=[Disk(1024, swap=True)])
    argv = qemu_command(spec, rootfs=Path("/g/rootfs.ext4"), ssh_port=2222,
                        disk_files=[Path("/w/disk0.img")], accel="tcg")
    assert argv[0] == "qemu-system-x86_64"
    assert "-no-reboot" in argv
    assert option(argv, "-accel") == ["tcg"]
    assert option(argv, "-cpu") == ["qemu64"]
    assert option(argv, "-m") == ["768"] and option(argv, "-smp") == ["2,sockets=2,cores=1,threads=1"]
    assert option(argv, "-kernel") == ["/k/vmlinux"]
    (append,) = option(argv, "-append")
    assert append.startswith("console=ttyS0 root=/dev/vda")
    assert "init=/sbin/mmharness-init" in append and "panic=-1" in append
    assert append.endswith(" page_owner=on")
    drives = option(argv, "-drive")
    assert drives[0] == "file=/g/rootfs.ext4,if=virtio,format=raw,snapshot=on"
    assert drives[1].startswith("file=/w/disk0.img,if=virtio,format=raw")
    assert "snapshot" not in drives[1]
    (netdev,) = option(argv, "-netdev")
    assert "hostfwd=tcp:127.0.0.1:2222-:22" in netdev
    assert "virtio-rng-pci" in option(argv, "-device")
    assert option(argv, "-serial") == ["stdio"]


def test_qemu_command_kvm_and_cpu_override():
    spec = MachineSpec(kernel=Path("/k"))
    argv = qemu_command(spec, rootfs=Path("/r"), ssh_port=1, accel="kvm")
    assert option(argv, "-cpu") == ["host"] and option(argv, "-accel") == ["kvm"]
    spec = MachineSpec(kernel=Path("/k"), cpu="max", extra_args=["-s"])
    argv = qemu_command(spec, rootfs=Path("/r"), ssh_port=1, accel="tcg")
    assert option(argv, "-cpu") == ["max"] and argv[-1] == "-s"


def test_machine_spec_accepts_strings_and_lists():
    spec = MachineSpec(kernel="/k/vmlinux", disks=[Disk(64)])
    assert spec.kernel == Path("/k/vmlinux") and spec.disks == (Disk(64),)
    assert Disk.device(0) == "/dev/vdb" and Disk.device(2) == "/dev/vdd"


def test_detect_accel(tmp_path):
    kvm = tmp_path / "kvm"
    kvm.write_text("")
    missing = tmp_path / "nokvm"
    # /dev/kvm present but no hardware virtualisation (this machine): TCG
    assert detect_accel("auto", cpuinfo=CPUINFO_PLAIN, kvm_device=kvm) == "tcg"
    assert detect_accel("auto", cpuinfo=CPUINFO_VMX, kvm_device=kvm) == "kvm"
    assert detect_accel("auto", cpuinfo=CPUINFO_VMX, kvm_device=missing) == "tcg"
    assert detect_accel("tcg", cpuinfo=CPUINFO_VMX, kvm_device=kvm) == "tcg"
    assert detect_accel("kvm", cpuinfo=CPUINFO_PLAIN, kvm_device=kvm) == "kvm"
    with pytest.raises(HarnessError, match="not usable"):
        detect_accel("kvm", kvm_device=missing)
    with pytest.raises(HarnessError, match="unknown accelerator"):
        detect_accel("hvf")


def test_detect_accel_env_override(tmp_path, monkeypatch):
    kvm = tmp_path / "kvm"
    kvm.write_text("")
    monkeypatch.setenv("MMHARNESS_ACCEL", "tcg")
    assert detect_accel("auto", cpuinfo=CPUINFO_VMX, kvm_device=kvm) == "tcg"


def test_reserve_port(tmp_path):
    first = reserve_port(lock_dir=tmp_path)
    second = reserve_port(lock_dir=tmp_path)
    assert first.port != second.port
    with socket.socket() as probe:  # the port really is free for QEMU to bind
        probe.bind(("127.0.0.1", first.port))
    with pytest.raises(HarnessError, match=f"port {first.port} .* already in use"):
        reserve_port(first.port, lock_dir=tmp_path)  # locked by another VM
    first.release()
    again = reserve_port(first.port, lock_dir=tmp_path)
    assert again.port == first.port
    again.release()
    second.release()


def test_reserve_port_taken_by_another_program(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(HarnessError, match="already in use"):
            reserve_port(port, lock_dir=tmp_path)


# --- Machine against a fake QEMU (a shell script on the console pty) ----------

def fake_guest(tmp_path) -> GuestImage:
    rootfs = tmp_path / "rootfs.ext4"
    rootfs.write_text("")
    return GuestImage(rootfs=rootfs, client_key=tmp_path / "id", host_key="ssh-ed25519 AAAA",
                      ready_marker=READY_MARKER)


def fake_qemu(monkeypatch, script: str):
    monkeypatch.setattr(machine, "require_tools", lambda *a, **k: None)
    monkeypatch.setattr(machine, "qemu_command",
                        lambda spec, **kw: ["sh", "-c", textwrap.dedent(script)])


def spec_for(tmp_path, **kw) -> MachineSpec:
    kernel = tmp_path / "vmlinux"
    kernel.write_text("")
    kw.setdefault("accel", "tcg")
    return MachineSpec(kernel=kernel, **kw)


REBOOTABLE = f"""
    echo '[    0.1] Linux version 7.3.4'
    echo '{READY_MARKER}'
    while read -r line; do
        case "$line" in *reboot*) echo '[    9.0] reboot: Restarting system'; exit 0;; esac
    done
"""


def test_boot_and_console_shutdown(tmp_path, monkeypatch):
    fake_qemu(monkeypatch, REBOOTABLE)
    results = tmp_path / "results"
    with Machine(spec_for(tmp_path, disks=[Disk(8)]), fake_guest(tmp_path), results) as vm:
        assert vm.phase == "command"
        assert vm.accel == "tcg" and vm.port > 0
        pid = vm.pid
        assert "Linux version" in vm.console_text()
        assert vm.crashes() == []
    log = (results / "console.log").read_text()
    assert READY_MARKER in log and "reboot: Restarting system" in log
    assert (results / "qemu.cmd").is_file()
    assert not Path(f"/proc/{pid}").exists()
    assert not any((tmp_path / "cache" / "machines").iterdir())  # extra disks removed


def test_missing_kernel(tmp_path):
    spec = MachineSpec(kernel=tmp_path / "nope" / "vmlinux")
    with pytest.raises(HarnessError, match="phase 'boot': kernel image .*nope/vmlinux not found"):
        Machine(spec, fake_guest(tmp_path), tmp_path / "r").boot()


def test_marker_in_cmdline_is_refused(tmp_path):
    spec = spec_for(tmp_path, cmdline=f"x={READY_MARKER}")
    with pytest.raises(HarnessError, match="ready marker"):
        Machine(spec, fake_guest(tmp_path), tmp_path / "r").boot()


def test_boot_timeout_names_phase_and_last_lines(tmp_path, monkeypatch):
    fake_qemu(monkeypatch, "echo 'Run /bin/sh as init process'; exec sleep 60")
    vm = Machine(spec_for(tmp_path, boot_timeout=1), fake_guest(tmp_path), tmp_path / "r")
    with pytest.raises(HarnessError) as err:
        vm.boot()
    text = str(err.value)
    assert "phase 'boot'" in text and "ready marker" in text
    assert "Run /bin/sh as init process" in text
    assert str(tmp_path / "r" / "console.log") in err.value.artifacts
    assert not Path(f"/proc/{vm.pid}").exists() or "Z" in Path(f"/proc/{vm.pid}/stat").read_text()


def test_panic_at_boot_is_reported_with_excerpt(tmp_path, monkeypatch):
    fake_qemu(monkeypatch, """
        echo '[    1.2] VFS: Cannot open root device "vdz"'
        echo '[    1.2] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)'
        echo '[    1.2] Call Trace:'
        echo '[    1.2] ---[ end Kernel panic - not syncing: VFS ]---'
        exit 0  # panic=-1 and -no-reboot: QEMU exits
    """)
    with pytest.raises(HarnessError, match="(?s)phase 'boot': the kernel panicked.*Unable to mount root"):
        Machine(spec_for(tmp_path), fake_guest(tmp_path), tmp_path / "r").boot()


def test_init_failure_stops_waiting(tmp_path, monkeypatch):
    fake_qemu(monkeypatch, "echo 'mmharness-init: FATAL: sshd did not start'; exec sleep 60")
    with pytest.raises(HarnessError, match="init failed: mmharness-init: FATAL: sshd did not start"):
        Machine(spec_for(tmp_path, boot_timeout=30), fake_guest(tmp_path), tmp_path / "r").boot()


def test_qemu_exiting_early(tmp_path, monkeypatch):
    fake_qemu(monkeypatch, "echo 'qemu-system-x86_64: Error loading uncompressed kernel "
                           "without PVH ELF Note'; exit 1")
    with pytest.raises(HarnessError) as err:
        Machine(spec_for(tmp_path), fake_guest(tmp_path), tmp_path / "r").boot()
    assert "QEMU exited (exit status 1)" in str(err.value)
    assert "CONFIG_PVH" in err.value.hint


def test_port_taken_by_another_program_retries(tmp_path, monkeypatch):
    monkeypatch.setattr(machine, "require_tools", lambda *a, **k: None)
    scripts = iter([
        "echo \"qemu-system-x86_64: Could not set up host forwarding rule 'tcp:...'\"; exit 1",
        REBOOTABLE,
    ])
    monkeypatch.setattr(machine, "qemu_command", lambda spec, **kw: ["sh", "-c", next(scripts)])
    with Machine(spec_for(tmp_path), fake_guest(tmp_path), tmp_path / "r") as vm:
        assert vm.phase == "command"


def test_crash_after_boot_fails_shutdown(tmp_path, monkeypatch):
    fake_qemu(monkeypatch, f"""
        echo '{READY_MARKER}'
        echo '[   12.3] WARNING: CPU: 0 PID: 9 at mm/swapfile.c:100 swap_free+0x1/0x2'
        echo '[   12.3] Call Trace:'
        echo '[   12.3] ---[ end trace 0000000000000000 ]---'
        while read -r line; do case "$line" in *reboot*) exit 0;; esac; done
    """)
    vm = Machine(spec_for(tmp_path), fake_guest(tmp_path), tmp_path / "r")
    vm.boot()
    with pytest.raises(HarnessError, match="(?s)crash.*WARNING: CPU: 0 PID: 9 at mm/swapfile.c:100"):
        vm.shutdown()


def test_guest_that_does_not_stop_is_killed(tmp_path, monkeypatch):
    fake_qemu(monkeypatch, f"trap '' TERM; echo '{READY_MARKER}'; while :; do sleep 1; done")
    monkeypatch.setattr(machine, "KILL_GRACE", 0.2)
    vm = Machine(spec_for(tmp_path, shutdown_timeout=0.5), fake_guest(tmp_path), tmp_path / "r")
    vm.boot()
    pid = vm.pid
    with pytest.raises(HarnessError, match="phase 'shutdown': the guest did not stop within 0.5 s"):
        vm.shutdown()
    assert not Path(f"/proc/{pid}").exists()


def test_qemu_dying_mid_test(tmp_path, monkeypatch):
    fake_qemu(monkeypatch, f"echo '{READY_MARKER}'; exec sleep 60")
    vm = Machine(spec_for(tmp_path), fake_guest(tmp_path), tmp_path / "r")
    vm.boot()
    os.kill(vm.pid, 9)
    with pytest.raises(HarnessError, match=r"phase 'command': QEMU exited \(killed by signal 9"):
        vm.diagnose("running `dd`", 3.0)
    with pytest.raises(HarnessError, match="before the harness shut it down"):
        vm.shutdown()


def test_disks_are_sparse_and_swap_formatted(tmp_path, monkeypatch):
    if subprocess.run(["sh", "-c", "command -v mkswap"], capture_output=True).returncode:
        pytest.skip("mkswap not installed")
    fake_qemu(monkeypatch, REBOOTABLE)
    spec = spec_for(tmp_path, disks=[Disk(64, swap=True), Disk(32)])
    with Machine(spec, fake_guest(tmp_path), tmp_path / "r") as vm:
        files = sorted(vm._workdir.iterdir())
        assert [f.stat().st_size for f in files] == [64 << 20, 32 << 20]
        assert files[1].stat().st_blocks == 0
        with files[0].open("rb") as disk:
            disk.seek(4096 - 10)
            assert disk.read(10) == b"SWAPSPACE2"


def test_port_taken_every_time_gives_up(tmp_path, monkeypatch):
    fake_qemu(monkeypatch, "echo 'qemu: Could not set up host forwarding rule'; exit 1")
    with pytest.raises(HarnessError, match="could not bind a free port for SSH three times"):
        Machine(spec_for(tmp_path), fake_guest(tmp_path), tmp_path / "r").boot()


def test_a_kind_judged_elsewhere_fails_nothing(tmp_path, monkeypatch):
    """The debug kernel's kmemleak console line is left to the plugin's read of the report."""
    fake_qemu(monkeypatch, f"""
        echo '{READY_MARKER}'
        echo '[   67.9] kmemleak: 1 new suspected memory leaks (see /sys/kernel/debug/kmemleak)'
        while read -r line; do case "$line" in *reboot*) exit 0;; esac; done
    """)
    with Machine(spec_for(tmp_path, judged_elsewhere=("memory leak",)), fake_guest(tmp_path), tmp_path / "r") as vm:
        deadline = time.monotonic() + 10
        while "kmemleak" not in vm.console_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [r.kind for r in vm.console_reports()] == ["memory leak"]
        assert vm.crashes() == []
