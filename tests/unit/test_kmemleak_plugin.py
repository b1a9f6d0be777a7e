"""The plugin's kmemleak check in real pytest runs (pytester), on a fake debug kernel and VM."""

import ast

import pytest

pytest_plugins = ["pytester"]

CONFTEST = '''
import contextlib
from pathlib import Path

import pytest

from harness import pytest_plugin
from harness.build import manifest
from harness.build.pipeline import KernelUnderTest

LEAKS = Path({leaks!r}).read_text()
CALLS = []


class Result:
    def __init__(self, stdout=""):
        self.stdout, self.stderr, self.status, self.ok = stdout, "", 0, True


class FakeShell:
    def run(self, command, timeout=60.0):
        CALLS.append(command)
        return Result()

    def check(self, command, timeout=60.0):
        CALLS.append(command)
        return Result("100.0 50.0" if command == "cat /proc/uptime" else LEAKS)


class FakeVM:
    phase, accel, console_log = "command", "tcg", Path("console.log")

    def __init__(self, spec):
        self.spec = spec

    def shell(self):
        return FakeShell()

    def crashes(self):
        return []

    def notices(self):
        return []


@contextlib.contextmanager
def booted(spec, image, results_dir, on_exit=None):
    CALLS.append(("boot", spec.judged_elsewhere))
    yield FakeVM(spec)
    CALLS.append("shutdown")


@pytest.fixture(autouse=True)
def fake_debug_kernel(monkeypatch, tmp_path):
    config = tmp_path / "config"
    config.write_text("CONFIG_DEBUG_KMEMLEAK=y\\nCONFIG_HZ=250\\n")
    kernel = KernelUnderTest(manifest.load("page-owner-swap-debug"), "debug", tmp_path / "vmlinux",
                             tmp_path / "bzImage", config, tmp_path, ())
    monkeypatch.setattr(pytest_plugin.Session, "kernel", lambda self, name, label: kernel)
    monkeypatch.setattr(pytest_plugin.Session, "guest", lambda self, name: None)
    monkeypatch.setattr(pytest_plugin.boot_session, "booted", booted)
    yield
    print("CALLS", CALLS)
    CALLS.clear()
'''

TESTS = '''
def test_machine(shell):
    pass

def test_boot(boot):
    with boot("page_owner=on"):
        pass
'''


@pytest.fixture
def run(pytester, monkeypatch, tmp_path):
    def pytest_run(leaks: str) -> pytest.RunResult:
        monkeypatch.delenv("MMHARNESS_RESULTS", raising=False)
        (tmp_path / "leaks.txt").write_text(leaks)
        pytester.makeconftest(CONFTEST.format(leaks=str(tmp_path / "leaks.txt")))
        pytester.makepyfile(test_sample=TESTS)
        return pytester.runpytest_inprocess("-p", "no:cacheprovider", "-s", "--no-report",
                                            "--results-dir", str(pytester.path / "results"))
    return pytest_run


LEAK = ("unreferenced object 0xffff888006b4c2c0 (size 64):\n"
        '  comm "kswapd0", pid 45, jiffies 4294990000\n'
        "  backtrace (crc 2c8e4d1b):\n"
        "    __kmalloc_cache_noprof+0x2a5/0x3d0\n"
        "    swap_page_owner_save+0x8e/0x1c0\n")


def calls(out: str) -> list[list]:
    return [ast.literal_eval(line.split("CALLS ", 1)[1]) for line in out.splitlines() if "CALLS [" in line]


def test_no_leak_passes_after_a_clear_and_two_scans_before_shutdown(run):
    result = run("")
    out = result.stdout.str()
    assert result.ret == 0, out
    result.assert_outcomes(passed=2)
    scan, clear = "echo scan > /sys/kernel/debug/kmemleak", "echo clear > /sys/kernel/debug/kmemleak"
    # The console's kmemleak lines are left to the check; the clear once the guest is ready.
    expected = [("boot", ("memory leak",)), scan, clear, "cat /proc/uptime",
                scan, scan, "cat /sys/kernel/debug/kmemleak", "shutdown"]
    assert calls(out) == [expected, expected]  # the machine fixture, a boot block


def test_a_new_leak_fails_both_kinds_of_test_with_its_caller(run):
    result = run(LEAK)  # jiffies 4294990000: after the clear (INITIAL_JIFFIES + 100 s at HZ=250 = 4294917296)
    out = result.stdout.str()
    result.assert_outcomes(failed=2)
    assert out.count("kmemleak: 1 leak(s) during the test, allocated in: swap_page_owner_save+0x8e/0x1c0 (kswapd0)") >= 2


def test_a_leak_from_before_the_clear_is_a_notice(run):
    result = run(LEAK.replace("jiffies 4294990000", "jiffies 4294892399"))
    out = result.stdout.str()
    result.assert_outcomes(passed=2)
    assert "kmemleak: 1 leak(s) allocated before the test (swap_page_owner_save+0x8e/0x1c0)" in out
