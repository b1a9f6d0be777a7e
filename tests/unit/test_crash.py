from harness.results import crash
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


# Memory-management failures as the kernel prints them (formats from mm/, kernel/ and
# arch/x86 of 6.12 and 7.3): each must be found, with the right kind and fatality.

def only(text: str) -> crash.CrashReport:
    (report,) = crash.scan(text)
    return report


def assert_fatal(report: crash.CrashReport, kind: str) -> None:
    assert report.kind == kind
    assert crash.fatal([report]) == [report] and crash.notices([report]) == []


def assert_notice(report: crash.CrashReport, kind: str) -> None:
    assert report.kind == kind
    assert crash.fatal([report]) == [] and crash.notices([report]) == [report]


KMEMLEAK_VERBOSE = """\
[   60.100000] kmemleak: unreferenced object 0xffff888004a1c000 (size 64):
[   60.100001] kmemleak:   comm "perl", pid 245, jiffies 4294937296
[   60.100002] kmemleak:   hex dump (first 32 bytes):
[   60.100003] kmemleak:     00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00  ................
[   60.100004] kmemleak:   backtrace (crc 5d3e1e4b):
[   60.100005] kmemleak:     __kmalloc_cache_noprof+0x2a5/0x390
[   60.100006] kmemleak:     swap_page_owner_save+0x3c/0x90
[   60.100007] kmemleak: 1 new suspected memory leaks (see /sys/kernel/debug/kmemleak)
"""

# The scan's line on the console, then `cat /sys/kernel/debug/kmemleak` in the guest.
KMEMLEAK_DEBUGFS = """\
[  660.500000] kmemleak: 2 new suspected memory leaks (see /sys/kernel/debug/kmemleak)
# cat /sys/kernel/debug/kmemleak
unreferenced object (percpu) 0x60fb1a4e1c20 (size 8):
  comm "swapon", pid 301, jiffies 4294940000
  backtrace (crc 0):
    pcpu_alloc_noprof+0x4c7/0x9a0
"""


def test_kmemleak_leaks_are_fatal():
    report = only(KMEMLEAK_VERBOSE)
    assert_fatal(report, "memory leak")
    assert report.title == "kmemleak: unreferenced object 0xffff888004a1c000 (size 64):"
    assert "swap_page_owner_save" in report.excerpt and "1 new suspected" in report.excerpt
    report = only(KMEMLEAK_DEBUGFS)
    assert_fatal(report, "memory leak")
    assert report.title.startswith("kmemleak: 2 new suspected memory leaks")
    assert "unreferenced object (percpu) 0x60fb1a4e1c20 (size 8):" in report.excerpt
    assert crash.classify("unreferenced object 0xffff888004a1c000 (size 64):") == "memory leak"
    assert crash.classify("[    1.0] kmemleak: Kernel memory leak detector initialized (mem pool available: 15706)") is None


TASKS = "".join(f"[  101.{i:06d}] [ {1000 + i:6d}]     0 {1000 + i:5d}     2000      300      100      200"
                f"         0    57344        0             0 sh\n" for i in range(100, 160))

OOM_GLOBAL = f"""\
[  101.000001] perl invoked oom-killer: gfp_mask=0x140dca(GFP_HIGHUSER_MOVABLE|__GFP_COMP|__GFP_ZERO), order=0, oom_score_adj=0
[  101.000002] CPU: 1 UID: 0 PID: 1234 Comm: perl Not tainted 7.3.4+ #1 PREEMPT(lazy)
[  101.000003] Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014
[  101.000004] Call Trace:
[  101.000005]  <TASK>
[  101.000006]  dump_stack_lvl+0x5d/0x80
[  101.000007]  dump_header+0x43/0x1a0
[  101.000008]  oom_kill_process+0xfe/0x200
[  101.000009]  out_of_memory+0x24d/0x590
[  101.000010]  </TASK>
[  101.000011] Mem-Info:
[  101.000012] active_anon:120000 inactive_anon:2000 isolated_anon:0
[  101.000020] Tasks state (memory values in pages):
[  101.000021] [  pid  ]   uid  tgid total_vm      rss rss_anon rss_file rss_shmem pgtables_bytes swapents oom_score_adj name
{TASKS}[  101.000222] [   1234]     0  1234   130000   120000   119000     1000        0  1003520        0             0 perl
[  101.000223] oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/,task=perl,pid=1234,uid=0
[  101.000224] Out of memory: Killed process 1234 (perl) total-vm:520000kB, anon-rss:476000kB, file-rss:4000kB, shmem-rss:0kB, UID:0 pgtables:980kB oom_score_adj:0
[  101.100000] oom_reaper: reaped process 1234 (perl), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB
"""


def test_oom_kill_is_one_notice_naming_the_killed_task():
    report = only(OOM_GLOBAL)  # its Call Trace and task list (past AFTER lines) are in it
    assert_notice(report, "OOM kill")
    assert report.title == "Out of memory: Killed process 1234 (perl)"
    assert report.line == 1
    assert report.excerpt.splitlines()[-1].endswith("oom_score_adj:0")


def test_memcg_oom_kill_alone_is_a_notice():
    report = only("[  300.000000] memory: usage 98304kB, limit 98304kB, failcnt 4242\n"
                  "[  300.000001] Memory cgroup out of memory: Killed process 2345 (stress) total-vm:270000kB, "
                  "anon-rss:97000kB, file-rss:1000kB, shmem-rss:0kB, UID:0 pgtables:300kB oom_score_adj:0\n")
    assert_notice(report, "OOM kill")
    assert report.title == "Memory cgroup out of memory: Killed process 2345 (stress)"


def test_a_bug_inside_an_oom_report_is_not_hidden_in_the_notice():
    text = OOM_GLOBAL.replace("[  101.000012]", "[  101.000012] BUG: Bad rss-counter state mm:000000001a2b3c4d "
                              "type:MM_SWAPENTS val:-1 Comm:perl Pid:1234\n[  101.000013]")
    reports = crash.scan(text)
    assert [r.kind for r in reports] == ["OOM kill", "bad rss-counter state", "OOM kill"]
    assert [r.kind for r in crash.fatal(reports)] == ["bad rss-counter state"]
    assert reports[0].title.startswith("perl invoked oom-killer")  # cut short before the BUG
    assert reports[2].title == "Out of memory: Killed process 1234 (perl)"


def test_bad_swap_entries_are_fatal():
    for line in ("swap_info_get: Bad swap file entry 3ffffffffffff",
                 "swap_info_get: Bad swap offset entry 0400a000",
                 "swap_info_get: Unused swap offset entry 00001234",
                 "_swap_info_get: Unused swap file entry 4000000000001234",
                 "__swap_info_get: Bad swap offset entry 0400a000",
                 "get_swap_device: Bad swap file entry 3ffffffffffff",
                 "get_swap_device: Bad swap offset entry 0000f000",
                 "Bad swap file entry 3ffffffffffff"):  # 7.3's swap_dup_entry_direct, no function name
        report = only(f"[   77.123456] {line}\n")
        assert_fatal(report, "bad swap entry")
        assert report.title == line


def test_hard_lockups_are_fatal():
    for line in ("NMI watchdog: Watchdog detected hard LOCKUP on cpu 1",  # perf NMI watchdog
                 "watchdog: CPU0: Watchdog detected hard LOCKUP on cpu 1"):  # buddy watchdog
        report = only(f"[  130.000000] {line}\n[  130.000001] Modules linked in:\n")
        assert_fatal(report, "hard lockup")
        assert report.title == line


def test_vm_fault_oom_leak_is_fatal():
    report = only("[   88.000000] Huh VM_FAULT_OOM leaked out to the #PF handler. Retrying PF\n")
    assert_fatal(report, "VM_FAULT_OOM leak")


def test_stack_segment_fault_is_fatal():
    for line in ("Oops: stack segment: 0000 [#1] PREEMPT SMP NOPTI", "stack segment: 0000 [#1] SMP KASAN"):
        report = only(f"[   99.000000] {line}\n[   99.000001] CPU: 0 UID: 0 PID: 77 Comm: kswapd0\n")
        assert_fatal(report, "stack segment fault")


BAD_PAGE = """\
[   55.000001] BUG: Bad page state in process perl  pfn:1a2b3
[   55.000002] page: refcount:0 mapcount:1 mapping:0000000000000000 index:0x7f3c1a200 pfn:0x1a2b3
[   55.000003] flags: 0x100000000020018(uptodate|dirty|swapbacked|node=0|zone=1)
[   55.000004] raw: 0100000000020018 dead000000000100 dead000000000122 0000000000000000
[   55.000005] raw: 00000007f3c1a200 0000000000000000 0000000000000000 0000000000000000
[   55.000006] page dumped because: nonzero mapcount
[   55.000007] Modules linked in:
[   55.000008] CPU: 0 UID: 0 PID: 245 Comm: perl Tainted: G    B   7.3.4+ #1
[   55.000009] Call Trace:
[   55.000010]  <TASK>
[   55.000011]  bad_page+0x6b/0x110
[   55.000012]  free_unref_folios+0x3a0/0x6f0
[   55.000013]  </TASK>
[   55.000014] Disabling lock debugging due to kernel taint
"""

VM_BUG_ON_FOLIO = """\
[   69.000000] swapoff: done
[   70.000001] page: refcount:1 mapcount:0 mapping:ffff888003a1b2c8 index:0x0 pfn:0x2b3c4
[   70.000002] memcg:ffff888003c0e000
[   70.000003] aops:shmem_aops ino:5 dentry name(?):"dd"
[   70.000004] flags: 0x100000000000014(uptodate|lru|node=0|zone=1)
[   70.000005] raw: 0100000000000014 ffffea0000acf108 ffffea0000acf188 ffff888003a1b2c8
[   70.000006] raw: 0000000000000000 0000000000000000 00000001ffffffff ffff888003c0e000
[   70.000007] page dumped because: VM_BUG_ON_FOLIO(!folio_test_locked(folio))
[   70.000008] ------------[ cut here ]------------
[   70.000009] kernel BUG at mm/filemap.c:1498!
[   70.000010] Oops: invalid opcode: 0000 [#1] PREEMPT SMP NOPTI
[   70.000011] RIP: 0010:folio_unlock+0x3c/0x40
[   70.000012] ---[ end trace 0000000000000000 ]---
"""


def test_bad_page_state_and_rss_counter_are_fatal_with_the_page_dump():
    report = only(BAD_PAGE)
    assert_fatal(report, "bad page state")
    assert report.title == "BUG: Bad page state in process perl  pfn:1a2b3"
    assert "page dumped because: nonzero mapcount" in report.excerpt and "bad_page+" in report.excerpt
    report = only("[   66.000000] BUG: Bad rss-counter state mm:000000001a2b3c4d type:MM_ANONPAGES val:1 "
                  "Comm:perl Pid:245\n")
    assert_fatal(report, "bad rss-counter state")


def test_dump_page_before_a_bug_is_part_of_its_excerpt():
    report = only(VM_BUG_ON_FOLIO)
    assert_fatal(report, "BUG")
    assert report.title == "kernel BUG at mm/filemap.c:1498!"
    assert report.line == 10
    assert report.excerpt.splitlines()[0].endswith("page: refcount:1 mapcount:0 mapping:ffff888003a1b2c8 "
                                                   "index:0x0 pfn:0x2b3c4")
    assert "swapoff: done" not in report.excerpt


def _every_sample() -> str:
    oom = "\n".join([f"[    5.{i:06d}] perl invoked oom-killer: gfp_mask=0x140cca" if i == 3 else
                     f"[    5.{i:06d}] Mem-Info line {i}" for i in range(60)]
                    + ["[    6.000000] Out of memory: Killed process 77 (perl) total-vm:1kB"])
    dump = "[ 7.0] page: refcount:0 mapcount:0\n[ 7.1] flags: 0x0\n[ 7.2] page dumped because: VM_BUG_ON\n"
    filler = "".join(f"[   20.{i:06d}] filler {i}\n" for i in range(120))
    return (BOOT_OK + WARNING + filler + OOPS_PANIC + oom + "\n" + dump + WARNING + filler
            + (DATA / "console" / "7.3-kswapd-swap-table-alloc-failure.log").read_text() + WARNING)


def test_incremental_scanner_matches_a_scan_of_everything():
    text = _every_sample()
    expected = crash.scan(text)
    assert len(expected) >= 6
    lines = text.split("\n")
    for chunk in (1, 3, 17, 1000):
        scanner = crash.Scanner()
        for at in range(0, len(lines) - 1, chunk):
            scanner.feed(lines[at:min(at + chunk, len(lines) - 1)])
            so_far = "\n".join(lines[:min(at + chunk, len(lines) - 1)]) + "\n"
            if at % (chunk * 7) == 0:  # an open report is cut where the text so far ends
                assert scanner.reports("") == crash.scan(so_far)
        assert scanner.reports(lines[-1]) == expected
        assert len(scanner._window) < 200  # only a window is kept


def test_real_page_allocation_stall_on_the_debug_kernel_is_reported_but_not_fatal():
    """Real debug-kernel console (tests/data/debug-kernel/): DD stalled 30 s in the allocator."""
    text = (DATA / "debug-kernel" / "console-DD-page-allocation-stall.log").read_text()
    reports = crash.scan(text)
    stalls = [r for r in reports if r.kind == "page allocation stall"]
    assert len(stalls) == 1 and "shmem_alloc_and_add_folio" in stalls[0].excerpt
    assert "DD: page allocation stall for 30 secs" in stalls[0].title
    assert "Call Trace" not in [r.kind for r in reports]
    assert stalls[0] not in crash.fatal(reports) and stalls[0] in crash.notices(reports)
    assert stalls[0] in crash.fatal(reports, strict=True)
