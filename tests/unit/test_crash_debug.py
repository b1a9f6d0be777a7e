"""The debug kernel's reports on the console: KFENCE, lockdep, DEBUG_LIST.

The samples are hand-written from the 7.3.4 tree's printk strings
(tests/data/handwritten/debug-kernel/, see the README there): no debug run
here has printed one yet."""

from pathlib import Path

from harness.results import crash

DATA = Path(__file__).resolve().parent.parent / "data" / "handwritten" / "debug-kernel"
BOOT_OK = "[    0.000000] Linux version 7.3.4+ (root@build) #1 SMP PREEMPT\nMMHARNESS-READY\n"
KASAN = ("[    5.1] ==================================================================\n"
         "[    5.2] BUG: KASAN: slab-use-after-free in swap_page_owner_copy+0x40/0x80\n"
         "[    5.3] Read of size 8 at addr ffff888004e3a1c8 by task cat/231\n")


def sample(name: str) -> str:
    return (DATA / name).read_text()


def test_debug_kernel_reports_are_fatal_with_their_own_kind():
    cases = [(KASAN, "KASAN", "BUG: KASAN: slab-use-after-free in swap_page_owner_copy+0x40/0x80"),
             (sample("kfence-use-after-free.log"), "KFENCE",
              "BUG: KFENCE: use-after-free read in swap_page_owner_load+0x52/0x140"),
             (sample("lockdep-circular.log"), "lockdep", "WARNING: possible circular locking dependency detected"),
             (sample("lockdep-recursive.log"), "lockdep", "WARNING: possible recursive locking detected"),
             (sample("lockdep-suspicious-rcu.log"), "lockdep", "WARNING: suspicious RCU usage"),
             (sample("list-add-corruption.log"), "list corruption", "list_add corruption. next->prev should be prev"),
             (sample("list-del-corruption.log"), "list corruption",
              "list_del corruption, ffff888005a1c0c8->next is LIST_POISON1")]
    for text, kind, title in cases:
        reports = crash.scan(BOOT_OK + text)
        assert [r.kind for r in reports] == [kind], text
        assert reports[0].title.startswith(title)
        assert crash.fatal(reports) == reports


def test_every_lockdep_title_of_the_tree_is_a_lockdep_report():
    """The pr_warn("WARNING: ...") titles of kernel/locking/lockdep.c in 7.3.4."""
    for title in ("possible circular locking dependency detected", "HARDIRQ-safe -> HARDIRQ-unsafe lock order detected",
                  "possible recursive locking detected", "chain_key collision", "inconsistent lock state",
                  "possible irq lock inversion dependency detected", "Nested lock was not taken",
                  "bad unlock balance detected!", "bad contention detected!", "held lock freed!",
                  "kswapd0/45 still has locks held!", "lock held when returning to user space!",
                  "suspicious RCU usage"):
        assert crash.classify(f"[   50.1] WARNING: {title}") == "lockdep", title


def test_list_corruption_folds_in_its_warning_and_lockdep_its_details():
    (report,) = crash.scan(sample("list-add-corruption.log"))
    assert "lib/list_debug.c:29" in report.excerpt
    assert report.excerpt.splitlines()[-1].endswith("---[ end trace 0000000000000000 ]---")
    (report,) = crash.scan(sample("lockdep-circular.log"))
    assert "swap_page_owner_save+0x3c/0x120" in report.excerpt
    assert "which lock already depends on the new lock." in report.excerpt


def test_plain_warnings_and_debug_banners_are_not_debug_reports():
    assert crash.classify("[ 1.0] WARNING: CPU: 0 PID: 1 at mm/page_owner.c:1 f+0x1/0x2") == "WARNING"
    # Boot banners of the debug kernel (the first two as its consoles show them).
    for line in ("[    0.000000] kfence: initialized - using 2097152 bytes for 255 objects at "
                 "0x(____ptrval____)-0x(____ptrval____)",
                 "[   18.144901] kmemleak: Kernel memory leak detector initialized (mem pool available: 31111)",
                 "[    0.000000] Lock dependency validator: Copyright (c) 2006 Red Hat, Inc., Ingo Molnar",
                 "[    0.000000] ... MAX_LOCKDEP_SUBCLASSES:  8",
                 "[    0.300000] kasan: KernelAddressSanitizer initialized"):
        assert crash.classify(line) is None, line
