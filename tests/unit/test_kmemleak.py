"""kmemleak on the debug kernel: the report's parser, the clear and scans, the plugin's check."""

from dataclasses import dataclass
from pathlib import Path

import pytest

from harness import pytest_kmemleak
from harness.build import manifest
from harness.build.pipeline import KernelUnderTest
from harness.errors import HarnessError
from harness.results import kmemleak as report
from harness.run import kmemleak
from harness.run.machine_spec import MachineSpec

DATA = Path(__file__).resolve().parent.parent / "data"
# Hand-written from mm/kmemleak.c's format strings (tests/data/handwritten/README.md).
REPORT = (DATA / "handwritten" / "debug-kernel" / "kmemleak-report.txt").read_text()
# Real: seen on the debug kernel (tests/data/debug-kernel/README.md).
BOOT_LEAK = (DATA / "debug-kernel" / "kmemleak-boot-ramfs_init_fs_context.txt").read_text()


def test_parse_a_kmemleak_report():
    first, second = report.parse("\n" + REPORT)
    assert (first.address, first.size, first.kind) == (0xffff888006b4c2c0, 64, "")
    assert (first.comm, first.pid, first.jiffies) == ("kswapd0", 45, 4294923307)
    assert first.backtrace[0] == "kmemleak_alloc+0x4a/0x80" and len(first.backtrace) == 5
    assert first.first_caller == "swap_page_owner_save+0x8e/0x1c0"
    assert first.text.splitlines()[0] == "unreferenced object 0xffff888006b4c2c0 (size 64):"
    assert "hex dump" in first.text and "..........Z....." in first.text
    assert (second.kind, second.size, second.comm) == ("percpu", 8, "swapon")
    assert second.first_caller == "swap_page_owner_init+0x21/0x90"
    assert report.parse("") == []


def test_parse_the_real_boot_leak():
    (leak,) = report.parse(BOOT_LEAK)
    assert (leak.comm, leak.pid, leak.jiffies, leak.size) == ("swapper/0", 0, 4294892399, 8)
    assert leak.first_caller == "ramfs_init_fs_context+0x2c/0x71"
    assert leak.backtrace[-1] == "common_startup_64+0x13b/0x148" and len(leak.backtrace) == 14


def test_parse_older_frames_with_addresses():
    (leak,) = report.parse("unreferenced object 0xffff88800a1b2c00 (size 32):\n"
                           '  comm "cat", pid 7, jiffies 4294900000 (age 12.340s)\n'
                           "  backtrace:\n"
                           "    [<ffffffff812a3b4c>] kmalloc_trace+0x25/0x90\n"
                           "    [<ffffffff81c0ffee>] seq_open+0x3a/0xb0\n")
    assert leak.backtrace == ("kmalloc_trace+0x25/0x90", "seq_open+0x3a/0xb0")
    assert leak.first_caller == "seq_open+0x3a/0xb0"


def test_summary_names_the_callers_and_starts_the_report():
    text = report.summary(report.parse(REPORT), lines=3)
    assert text.splitlines()[0].startswith("kmemleak: 2 leak(s) during the test, allocated in: ")
    assert "swap_page_owner_save+0x8e/0x1c0 (kswapd0)" in text
    assert "unreferenced object 0xffff888006b4c2c0 (size 64):" in text
    assert "more lines" in text


def test_enabled_reads_the_kernels_config(tmp_path):
    config = tmp_path / "config"
    config.write_text("CONFIG_DEBUG_KMEMLEAK=y\n")
    assert kmemleak.enabled(config)
    config.write_text("# CONFIG_DEBUG_KMEMLEAK is not set\n")
    assert not kmemleak.enabled(config)
    assert not kmemleak.enabled(tmp_path / "missing")


@dataclass
class Result:
    stdout: str = ""
    stderr: str = ""
    status: int = 0

    @property
    def ok(self):
        return self.status == 0


class FakeShell:
    uptime = "60.00 100.00\n"

    def __init__(self, text: str = "", refuse: bool = False):
        self.commands: list[str] = []
        self.text, self.refuse = text, refuse

    def run(self, command, timeout=60.0):
        self.commands.append(command)
        if self.refuse and command.startswith("echo scan"):
            return Result(stderr="sh: echo: write error: Operation not permitted", status=1)
        return Result(stdout="kmemleak: Kernel memory leak detector disabled\n" if "dmesg" in command else "")

    def check(self, command, timeout=60.0):
        self.commands.append(command)
        return Result(stdout=self.uptime if command == "cat /proc/uptime" else self.text)


def test_clear_scans_then_clears_and_check_scans_twice_then_reads():
    shell = FakeShell(REPORT)
    assert kmemleak.clear(shell, hz=250) == 2**32 - 300 * 250 + 60 * 250  # jiffies at the clear
    assert shell.commands == [f"echo scan > {kmemleak.DEBUGFS}", f"echo clear > {kmemleak.DEBUGFS}",
                              "cat /proc/uptime"]
    shell.commands.clear()
    assert len(kmemleak.check(shell)) == 2
    assert shell.commands == [f"echo scan > {kmemleak.DEBUGFS}"] * 2 + [f"cat {kmemleak.DEBUGFS}"]


def test_a_disabled_kmemleak_is_an_error_with_its_console_lines():
    with pytest.raises(HarnessError) as error:
        kmemleak.check(FakeShell(refuse=True))
    assert "Operation not permitted" in str(error.value)
    assert "detector disabled" in error.value.hint


class FakeMachine:
    def __init__(self, shell):
        self._shell = shell

    def shell(self):
        return self._shell


def _kernel(tmp_path, config: str) -> KernelUnderTest:
    (tmp_path / "config").write_text(config)
    return KernelUnderTest(manifest.load("page-owner-swap-debug"), "debug", tmp_path / "vmlinux",
                           tmp_path / "bzImage", tmp_path / "config", tmp_path, ())


def test_the_plugin_clears_only_on_a_kmemleak_kernel_and_leaves_it_the_console_lines(tmp_path):
    spec = MachineSpec(kernel=tmp_path / "vmlinux")
    plain = _kernel(tmp_path, "# CONFIG_DEBUG_KMEMLEAK is not set\nCONFIG_HZ=250\n")
    assert pytest_kmemleak.after_boot(FakeMachine(FakeShell()), plain, tmp_path) is None
    assert pytest_kmemleak.judged(plain, spec) == spec
    debug = _kernel(tmp_path, "CONFIG_DEBUG_KMEMLEAK=y\nCONFIG_HZ=250\n")
    assert pytest_kmemleak.judged(debug, spec).judged_elsewhere == ("memory leak",)
    assert pytest_kmemleak.judged(debug, pytest_kmemleak.judged(debug, spec)).judged_elsewhere == ("memory leak",)
    check = pytest_kmemleak.after_boot(FakeMachine(FakeShell()), debug, tmp_path)
    assert check == pytest_kmemleak.LeakCheck(tmp_path, report.initial_jiffies(250) + 60 * 250)


def test_the_plugin_fails_a_test_with_the_leaks_and_keeps_the_report(tmp_path):
    since = pytest_kmemleak.LeakCheck(tmp_path, 0)
    with pytest.raises(pytest.fail.Exception) as failure:
        pytest_kmemleak.check(FakeMachine(FakeShell(REPORT)), since)
    assert "kmemleak: 2 leak(s)" in str(failure.value)
    assert (tmp_path / "kmemleak.txt").read_text().startswith("unreferenced object 0xffff888006b4c2c0")
    pytest_kmemleak.check(FakeMachine(FakeShell("")), since)  # no leak: no failure
    assert (tmp_path / "kmemleak.txt").read_text() == ""


def test_a_leak_allocated_before_the_clear_is_a_notice_not_a_failure(tmp_path):
    since = report.initial_jiffies(250) + 57 * 250  # cleared 57 s after boot
    (boot_leak,) = report.parse(BOOT_LEAK)
    assert report.split([boot_leak], since) == ([], [boot_leak])
    notices: list[str] = []
    pytest_kmemleak.check(FakeMachine(FakeShell(BOOT_LEAK)), pytest_kmemleak.LeakCheck(tmp_path, since), notices)
    assert (tmp_path / "kmemleak.txt").read_text() == ""
    assert "ramfs_init_fs_context" in (tmp_path / "kmemleak-before-test.txt").read_text()
    assert len(notices) == 1 and "allocated before the test" in notices[0]
    late = BOOT_LEAK.replace("jiffies 4294892399", f"jiffies {since + 250}")
    with pytest.raises(pytest.fail.Exception):
        pytest_kmemleak.check(FakeMachine(FakeShell(late)), pytest_kmemleak.LeakCheck(tmp_path, since), notices)
