from harness import crash
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data"

BOOT_OK = """\
[    0.000000] Linux version 7.3.4+ (root@build) #1 SMP PREEMPT
[    0.000000] Command line: console=ttyS0 root=/dev/vda rw init=/sbin/mmharness-init panic=-1
[    0.795510] page_owner is disabled
[    1.227597] VFS: Mounted root (ext4 filesystem) on device 254:0.
[    1.480107] Run /sbin/mmharness-init as init process
MMHARNESS-READY
"""

WARNING = """\
[   12.100000] some context line 1
[   12.200000] ------------[ cut here ]------------
[   12.300000] WARNING: CPU: 1 PID: 245 at mm/page_owner.c:312 __set_page_owner+0x1a/0x1c0
[   12.300001] Modules linked in:
[   12.300002] CPU: 1 UID: 0 PID: 245 Comm: dd Not tainted 7.3.4+ #1 PREEMPTLAZY
[   12.300003] RIP: 0010:__set_page_owner+0x1a/0x1c0
[   12.300004] Call Trace:
[   12.300005]  <TASK>
[   12.300006]  post_alloc_hook+0x9a/0xc0
[   12.300007]  get_page_from_freelist+0x3e2/0x1070
[   12.300008]  </TASK>
[   12.300009] ---[ end trace 0000000000000000 ]---
[   12.400000] unrelated line after the report
"""

OOPS_PANIC = """\
[   30.000001] swap_page_owner: recording
[   30.000002] BUG: unable to handle page fault for address: ffffea0004000008
[   30.000003] #PF: supervisor read access in kernel mode
[   30.000004] Oops: Oops: 0000 [#1] SMP
[   30.000005] CPU: 0 UID: 0 PID: 77 Comm: kswapd0 Not tainted 7.3.4+ #1
[   30.000006] RIP: 0010:swap_page_owner_save+0x2f/0x90
[   30.000007] Call Trace:
[   30.000008]  <TASK>
[   30.000009]  swap_writeout+0x11/0x80
[   30.000010]  </TASK>
[   30.000011] ---[ end trace 0000000000000000 ]---
[   30.000012] Kernel panic - not syncing: Fatal exception
[   30.000013] Kernel Offset: disabled
[   30.000014] ---[ end Kernel panic - not syncing: Fatal exception ]---
"""

KASAN = """\
[    5.1] ==================================================================
[    5.2] BUG: KASAN: slab-use-after-free in swap_page_owner_copy+0x40/0x80
[    5.3] Read of size 8 at addr ffff888004e3a1c8 by task cat/231
[    5.4] Call Trace:
[    5.5] ==================================================================
"""

GPF = """\
[   44.000000] Oops: general protection fault, probably for non-canonical address 0xdead000000000100: 0000 [#1] SMP
[   44.000001] CPU: 1 UID: 0 PID: 12 Comm: kworker/1:0
[   44.000002] Call Trace:
"""

SOFT_LOCKUP = "[   80.000000] watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [dd:301]\n[   80.1] Call Trace:\n"

HUNG_TASK = """\
[  245.000000] INFO: task kswapd0:33 blocked for more than 122 seconds.
[  245.000001]       Not tainted 7.3.4+ #1
[  245.000002] "echo 0 > /proc/sys/kernel/hung_task_timeout_secs" disables this message.
"""


def test_clean_boot_has_no_reports():
    assert crash.scan(BOOT_OK) == []


def test_warning_is_one_report_ending_at_end_trace():
    reports = crash.scan(BOOT_OK + WARNING)
    assert len(reports) == 1
    report = reports[0]
    assert report.kind == "WARNING"
    assert report.title.startswith("WARNING: CPU: 1 PID: 245 at mm/page_owner.c:312")
    assert "Call Trace:" in report.excerpt  # folded in, not a second report
    assert report.excerpt.splitlines()[-1].endswith("---[ end trace 0000000000000000 ]---")
    assert "unrelated line" not in report.excerpt
    assert "cut here" in report.excerpt  # context before the first line
    assert report.line == BOOT_OK.count("\n") + 3


def test_oops_then_panic():
    reports = crash.scan(OOPS_PANIC)
    assert [r.kind for r in reports] == ["BUG", "Kernel panic"]
    assert reports[0].title == "BUG: unable to handle page fault for address: ffffea0004000008"
    assert "swap_page_owner_save" in reports[0].excerpt
    assert reports[1].title == "Kernel panic - not syncing: Fatal exception"
    assert crash.panicked(OOPS_PANIC)
    assert not crash.panicked(WARNING)


def test_specific_kinds_win_over_generic_ones():
    assert [r.kind for r in crash.scan(KASAN)] == ["KASAN"]
    assert [r.kind for r in crash.scan(GPF)] == ["general protection fault"]
    assert [r.kind for r in crash.scan(SOFT_LOCKUP)] == ["soft lockup"]
    assert [r.kind for r in crash.scan(HUNG_TASK)] == ["hung task"]
    assert crash.classify("Unable to handle kernel paging request at virtual address 0") == \
        "Unable to handle kernel"
    assert crash.classify("[    3.0] Call Trace:") == "Call Trace"


def test_excerpt_is_bounded():
    text = "[ 1.0] BUG: looping\r\n" + "".join(f"[ 1.{i}] frame {i}\r\n" for i in range(100))
    (report,) = crash.scan(text)
    lines = report.excerpt.splitlines()
    assert len(lines) == crash.AFTER + 1
    assert all(not line.endswith("\r") for line in lines)


def test_prompt_and_timestamp_are_stripped_from_titles():
    (report,) = crash.scan("# [    4.409239] BUG: harness test\n")
    assert report.title == "BUG: harness test"
    (report,) = crash.scan("[   12.000000] [    T245] WARNING: CPU: 0 PID: 245 at x.c:1\n")
    assert report.title == "WARNING: CPU: 0 PID: 245 at x.c:1"


def test_ordinary_words_are_not_crashes():
    text = "bugs: none\nwarning: lowercase is not a kernel report\nOopsie\nKernel panicked? no\n"
    assert crash.scan(text) == []


def test_summary_names_every_report():
    reports = crash.scan(WARNING + OOPS_PANIC)
    text = crash.summary(reports, limit=2)
    assert "WARNING: CPU: 1 PID: 245" in text
    assert "and 1 more" in text
    assert crash.summary([]) == ""


def test_real_page_allocation_failure_is_reported_but_not_fatal():
    """Real 7.3 console: kswapd's swap table allocation failed under the round trip's pressure."""
    text = (DATA / "console" / "7.3-kswapd-swap-table-alloc-failure.log").read_text()
    reports = crash.scan(text)
    assert [r.kind for r in reports] == ["page allocation failure"]
    assert "swap_cluster_alloc_table" in reports[0].excerpt
    assert crash.fatal(reports) == [] and crash.notices(reports) == reports
    assert crash.fatal(reports, strict=True) == reports
    with_bug = text + "\n[  50.000000] BUG: unable to handle page fault for address: 0000000000000008\n"
    assert [r.kind for r in crash.fatal(crash.scan(with_bug))] == ["BUG"]
