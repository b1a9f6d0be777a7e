"""Faults on a real kernel and guest: each names its phase, keeps console.log
and leaves no QEMU process behind."""

import os
import signal
import socket
import subprocess
from dataclasses import replace

import pytest

from harness.build import guest as guests
from harness.errors import HarnessError
from harness.run.machine import Machine


def qemu_alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[-1].split()[0]
    return state not in ("Z", "X")


def boot_expecting_failure(spec, image, results_dir) -> tuple[str, Machine]:
    vm = Machine(spec, image, results_dir)
    with pytest.raises(HarnessError) as caught:
        with vm:
            vm.shell().check(["true"])
    return str(caught.value), vm


@pytest.fixture
def image(harness_session, kernel):
    return harness_session.guest(kernel.manifest.guest)


@pytest.mark.manifest("upstream-7.3")
def test_qemu_killed_mid_test(machine, shell):
    shell.check(["true"])
    os.kill(machine.pid, signal.SIGKILL)
    with pytest.raises(HarnessError, match="phase 'command'") as caught:
        shell.run(["uname", "-a"], timeout=20)
    assert "killed by signal" in str(caught.value) or "QEMU exited" in str(caught.value)
    with pytest.raises(HarnessError, match="QEMU exited .* before the harness shut it down"):
        machine.shutdown()
    assert machine.console_log.stat().st_size > 0
    assert not qemu_alive(machine.pid)


@pytest.mark.manifest("upstream-7.3")
def test_guest_that_never_gets_ready(machine_spec, image, results_dir):
    # /bin/cat as PID 1 waits on the console forever: no ready marker, no crash.
    spec = replace(machine_spec, cmdline="init=/bin/cat", boot_timeout=45)
    message, vm = boot_expecting_failure(spec, image, results_dir)
    assert "phase 'boot'" in message and "ready marker" in message
    assert str(vm.console_log) in message and vm.console_log.stat().st_size > 0
    assert not qemu_alive(vm.pid)


@pytest.mark.manifest("upstream-7.3")
def test_kernel_panic_at_boot(machine_spec, image, results_dir):
    spec = replace(machine_spec, cmdline="init=/bin/false")
    message, vm = boot_expecting_failure(spec, image, results_dir)
    assert "phase 'boot'" in message and "Kernel panic" in message
    assert "Attempted to kill init" in vm.console_log.read_text(errors="replace")
    assert not qemu_alive(vm.pid)


@pytest.mark.manifest("upstream-7.3")
def test_command_that_hangs(machine, shell):
    with pytest.raises(HarnessError, match=r"phase 'command'.*sleep 600"):
        shell.run(["sleep", "600"], timeout=3)
    assert shell.check(["echo", "still here"]).stdout.strip() == "still here"


@pytest.mark.manifest("upstream-7.3")
def test_missing_kernel_image(machine_spec, image, results_dir, tmp_path):
    spec = replace(machine_spec, kernel=tmp_path / "no-vmlinux")
    message, vm = boot_expecting_failure(spec, image, results_dir)
    assert f"kernel image {tmp_path / 'no-vmlinux'} not found" in message


@pytest.mark.manifest("upstream-7.3")
def test_port_already_taken(machine_spec, image, results_dir):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        spec = replace(machine_spec, ssh_port=busy.getsockname()[1])
        message, vm = boot_expecting_failure(spec, image, results_dir)
    assert f"port {spec.ssh_port} on 127.0.0.1 is already in use" in message


def test_guest_with_unknown_package(tmp_path, cache_env):
    definition = tmp_path / "bad-guest.yaml"
    definition.write_text("suite: bookworm\nmirror: ''\npackages: [openssh-server, no-such-package-mmharness]\n"
                          "hostname: bad\nimage_size_mb: 1024\n")
    with pytest.raises(HarnessError) as caught:
        guests.build_guest(guests.load_guest(str(definition)))
    message = str(caught.value)
    assert "no-such-package-mmharness" in message and str(definition) in message


@pytest.fixture
def cache_env(tmp_path, monkeypatch):
    monkeypatch.setenv("MMHARNESS_CACHE", str(tmp_path / "cache"))


def test_no_qemu_left_behind():
    """Whatever the tests above did, no QEMU of ours is still running."""
    mine = subprocess.run(["pgrep", "-P", str(os.getpid()), "qemu"], capture_output=True, text=True).stdout.split()
    assert mine == [], f"QEMU processes left: {mine}"
