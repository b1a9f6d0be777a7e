"""harness.run.session (manifest -> spec -> booted guest) and `mmharness boot`, without a VM."""

import contextlib
from dataclasses import replace
from pathlib import Path

import pytest

from harness import cli, paths
from harness.build import manifest
from harness.build.guest import GuestImage
from harness.build.manifest import MachineDefaults
from harness.build.pipeline import KernelUnderTest
from harness.errors import HarnessError
from harness.run import openssh, session
from harness.run.guest_command import CommandResult
from harness.run.machine import Disk, MachineSpec


def kut(tmp_path, **machine) -> KernelUnderTest:
    loaded = replace(manifest.load("default"), machine=MachineDefaults(**machine))
    return KernelUnderTest(loaded, "label", tmp_path / "vmlinux", tmp_path / "bzImage", tmp_path / "config",
                           tmp_path, ("series",))


def test_spec_takes_the_manifest_defaults(tmp_path):
    spec = session.machine_spec(kut(tmp_path, memory_mb=768, cpus=3, swap_disk_mb=256))
    assert spec == MachineSpec(kernel=tmp_path / "vmlinux", memory_mb=768, cpus=3, disks=(Disk(256, swap=True),))


def test_spec_overrides_win(tmp_path):
    overrides = session.Overrides.of("page_owner=on", {"memory_mb": 2048, "disks": [], "boot_timeout": 45})
    spec = session.machine_spec(kut(tmp_path, cpus=3, boot_timeout=600), overrides)
    assert (spec.cmdline, spec.memory_mb, spec.cpus, spec.disks, spec.boot_timeout) == \
        ("page_owner=on", 2048, 3, (), 45)
    assert overrides.other == (("boot_timeout", 45),)


def test_the_manifest_may_give_a_boot_timeout(tmp_path):
    assert session.machine_spec(kut(tmp_path, boot_timeout=600)).boot_timeout == 600
    assert session.machine_spec(kut(tmp_path)).boot_timeout == MachineSpec(kernel="k").boot_timeout
    assert manifest.load("page-owner-swap-debug").machine.boot_timeout >= 600


def test_unknown_machine_setting_is_named():
    with pytest.raises(HarnessError, match="unknown machine setting.*memory\\b"):
        session.Overrides.of("", {"memory": 1})


def test_given_vmlinux_uses_the_config_beside_it(tmp_path):
    (tmp_path / "config").write_text("CONFIG_X=y\n")
    kernel = session.kernel_under_test(manifest.load("default"), vmlinux=tmp_path / "vmlinux")
    assert (kernel.label, kernel.config, kernel.series) == ("--kernel", tmp_path / "config", ())
    assert session.given_kernel(kernel.manifest, tmp_path / "o" / "vmlinux").config == tmp_path / "o" / ".config"


class FakeMachine:
    def __init__(self, spec, image, results_dir, fail=None):
        self.spec, self.image, self.results_dir, self.fail = spec, image, results_dir, fail
        self.events = []

    def __enter__(self):
        self.events.append("boot")
        return self

    def __exit__(self, *exc):
        self.events.append("shutdown")


def test_booted_boots_yields_and_runs_on_exit_last(tmp_path, monkeypatch):
    made = []
    monkeypatch.setattr(session, "Machine", lambda *a: made.append(FakeMachine(*a)) or made[-1])
    with pytest.raises(RuntimeError):
        with session.booted("spec", "image", tmp_path, on_exit=lambda vm: vm.events.append("on_exit")) as vm:
            assert vm.events == ["boot"] and vm.results_dir == tmp_path
            raise RuntimeError("test failed")
    assert made[0].events == ["boot", "shutdown", "on_exit"]


def test_safe_name():
    assert paths.safe_name("test_x[page_owner=on, swap]") == "test_x_page_owner_on_swap_"
    assert paths.safe_name("a.b-c_d") == "a.b-c_d"


def test_boot_arguments():
    args = cli.make_parser().parse_args(["boot", "-m", "ghost-swap-7.3", "--label", "L", "--cmdline", "a=1",
                                         "--memory", "768", "--", "sh", "-c", "echo -m"])
    assert (args.manifest, args.label, args.cmdline, args.memory) == ("ghost-swap-7.3", "L", "a=1", 768)
    assert args.command == ["sh", "-c", "echo -m"]
    assert cli.boot_overrides(args) == session.Overrides(cmdline="a=1", memory_mb=768)
    args = cli.make_parser().parse_args(["boot"])
    assert (args.manifest, args.label, args.command) == ("default", None, [])
    assert cli.boot_overrides(args) == session.Overrides()


def test_ssh_argv_and_known_hosts(tmp_path):
    known = openssh.write_known_hosts(tmp_path / "known_hosts", 2222, "ssh-ed25519 AAAAkey root@guest")
    assert known.read_text() == "[127.0.0.1]:2222 ssh-ed25519 AAAAkey\n"
    argv = openssh.ssh_argv(port=2222, client_key=tmp_path / "id", known_hosts=known)
    assert argv == ["ssh", "-o", f"UserKnownHostsFile={known}", "-o", "StrictHostKeyChecking=yes",
                    "-o", "IdentitiesOnly=yes", "-i", str(tmp_path / "id"), "-p", "2222", "root@127.0.0.1"]
    assert openssh.ssh_argv(port=1, client_key=Path("k"), known_hosts=known, command=["ls", "-l"])[-3:] == \
        ["--", "ls", "-l"]


class FakeShell:
    def __init__(self):
        self.commands = []

    def run(self, command, timeout):
        self.commands.append(command)
        return CommandResult(str(command), "out\n", "err\n", 3, 0.1)


@pytest.fixture
def fake_boot(tmp_path, monkeypatch):
    monkeypatch.setenv("MMHARNESS_RESULTS", str(tmp_path / "results"))
    image = GuestImage(rootfs=tmp_path / "rootfs", client_key=tmp_path / "id", host_key="ssh-ed25519 AAAA",
                       ready_marker="ready")
    shell = FakeShell()
    vm = type("VM", (), {"boot_seconds": 1.0, "accel": "tcg", "port": 2345, "shell": lambda self: shell})()
    seen = {}

    @contextlib.contextmanager
    def booted(spec, image, results):
        seen.update(spec=spec, results=results)
        yield vm

    monkeypatch.setattr(session, "kernel_under_test", lambda m, label, say: kut(tmp_path))
    monkeypatch.setattr(session, "guest_image", lambda name: image)
    monkeypatch.setattr(session, "booted", booted)
    return shell, seen


def test_boot_runs_a_command_and_exits_with_its_status(fake_boot, capsys):
    shell, seen = fake_boot
    assert cli.main(["boot", "--cmdline", "page_owner=on", "--", "cat /proc/meminfo"]) == 3
    assert shell.commands == ["cat /proc/meminfo"]  # one word: a shell command line
    assert seen["spec"].cmdline == "page_owner=on"
    out, err = capsys.readouterr()
    assert out.startswith(f"results: {seen['results']}\n") and out.endswith("out\n") and err == "err\n"
    cli.main(["boot", "--", "ls", "-l", "a b"])
    assert shell.commands[-1] == ["ls", "-l", "a b"]


def test_boot_without_a_command_opens_ssh(fake_boot, monkeypatch):
    _, seen = fake_boot
    spawned = []
    monkeypatch.setattr(cli.subprocess, "run",
                        lambda argv, check: spawned.append(argv) or type("P", (), {"returncode": 0})())
    assert cli.main(["boot"]) == 0
    known = seen["results"] / "known_hosts"
    assert known.read_text() == "[127.0.0.1]:2345 ssh-ed25519 AAAA\n"
    assert spawned[0][0] == "ssh" and f"UserKnownHostsFile={known}" in spawned[0] and spawned[0][-3:] == \
        ["-p", "2345", "root@127.0.0.1"]
