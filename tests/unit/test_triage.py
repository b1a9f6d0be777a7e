"""`mmharness triage CONSOLE_LOG`: reports printed, exit 1 only for a fatal one."""

import os
import subprocess
import sys
from pathlib import Path

from harness.paths import REPO_ROOT

DATA = Path(__file__).resolve().parent.parent / "data"

BOOT = "[    0.000000] Linux version 7.3.4+ (root@build) #1 SMP PREEMPT\nMMHARNESS-READY\n"
OOM = ("[  300.000001] Memory cgroup out of memory: Killed process 2345 (stress) total-vm:270000kB, "
       "anon-rss:97000kB, file-rss:1000kB, shmem-rss:0kB, UID:0 pgtables:300kB oom_score_adj:0\n")
LEAK = ("[   60.100000] kmemleak: unreferenced object 0xffff888004a1c000 (size 64):\n"
        "[   60.100001] kmemleak:   comm \"perl\", pid 245, jiffies 4294937296\n"
        "[   60.100007] kmemleak: 1 new suspected memory leaks (see /sys/kernel/debug/kmemleak)\n")


def triage(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", "triage", str(path)], cwd=REPO_ROOT,
                          capture_output=True, text=True, env=dict(os.environ))


def test_clean_log_exits_0(tmp_path):
    log = tmp_path / "console.log"
    log.write_text(BOOT)
    result = triage(log)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{log}: no crash reports"


def test_notices_only_exit_0_and_are_printed(tmp_path):
    log = tmp_path / "console.log"
    log.write_text(BOOT + OOM)
    result = triage(log)
    assert result.returncode == 0, result.stderr
    assert "1 crash report(s), 0 fatal, 1 notice(s)" in result.stdout
    assert "[notice] OOM kill at line 3: Memory cgroup out of memory: Killed process 2345 (stress)" in result.stdout
    assert "    [  300.000001] Memory cgroup out of memory" in result.stdout  # the excerpt, indented


def test_real_page_allocation_failure_is_a_notice():
    result = triage(DATA / "console" / "7.3-kswapd-swap-table-alloc-failure.log")
    assert result.returncode == 0, result.stderr
    assert "[notice] page allocation failure at line" in result.stdout
    assert "swap_cluster_alloc_table" in result.stdout


def test_a_fatal_report_exits_1_and_every_report_is_printed(tmp_path):
    log = tmp_path / "console.log"
    log.write_bytes((BOOT + OOM + "\n" * 50 + LEAK).encode() + b"\xff stray byte\n")
    result = triage(log)
    assert result.returncode == 1, result.stderr
    assert "2 crash report(s), 1 fatal, 1 notice(s)" in result.stdout
    assert "[notice] OOM kill at line 3" in result.stdout
    assert "[fatal] memory leak at line 54: kmemleak: unreferenced object 0xffff888004a1c000 (size 64):" \
        in result.stdout
    assert result.stdout.index("[notice]") < result.stdout.index("[fatal]")  # console order


def test_missing_file_is_a_clear_error(tmp_path):
    result = triage(tmp_path / "nope.log")
    assert result.returncode == 1
    assert result.stdout == ""
    assert f"mmharness triage: error: console log {tmp_path / 'nope.log'} does not exist" in result.stderr
    assert "hint:" in result.stderr and "Traceback" not in result.stderr


def test_directory_is_a_clear_error(tmp_path):
    result = triage(tmp_path)
    assert result.returncode == 1
    assert "is a directory, not a console log" in result.stderr and "Traceback" not in result.stderr
