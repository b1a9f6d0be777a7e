"""The page_owner swap series on Linux 7.3, proven in the guest.

The cover letter's round trip, booted twice on the patched y/y kernel:
`page_owner=on` (Before: the owner is lost across swap) and
`page_owner=on,swap` (After: the owner is kept, swap_page_owner reports
pages while they are in swap, show_stacks keeps dd's count).
"""

import re

import pytest

from harness.errors import HarnessError
from harness.run import anon_holder, workloads

FILE_MIB = 256
PAGES_PER_MIB = workloads.PAGES_PER_MIB


def dd_stack(trip: workloads.RoundTrip):
    """dd's allocation stack for its tmpfs file: the stack holding most of dd's pages after dd."""
    stacks = workloads.stacks_of(trip.at("dd").page_owner.dump, "dd")
    return max(stacks, key=stacks.get)


@pytest.mark.build_label("page-owner[page_owner=y,swap_page_owner=y]")
def test_round_trip_before_and_after(kernel, boot, results_dir, figures):
    assert kernel.config_value("SWAP_PAGE_OWNER") == "y"
    trips = {}
    for cmdline in ("page_owner=on", "page_owner=on,swap"):
        with boot(cmdline) as vm:
            trips[cmdline] = workloads.round_trip(vm.shell(), vm.results_dir / "round-trip")
    figures("page_owner swap round trip (cover letter: Before | After)", workloads.table(trips))

    before, after = trips["page_owner=on"], trips["page_owner=on,swap"]
    # Before: swap tracking off, the owner is lost on swap-in.
    assert not before.at("DD").swap_page_owner.available
    assert "Invalid argument" in before.at("DD").swap_page_owner.error
    assert before.at("cat").page_owner.comm("dd") < FILE_MIB * 0.15
    assert before.at("cat").page_owner.comm("cat") >= FILE_MIB * 0.8

    # After: while in swap, swap_page_owner accounts for about what swap holds.
    swapped = after.at("DD")
    assert swapped.swap_used_mib >= FILE_MIB * 0.85
    assert swapped.swap_page_owner.available
    # Records are allocated without the memory reserves: under pressure some are refused,
    # and counted (swap_page_owner_lost). Those pages come back owned by the swap-in path.
    lost = swapped.swap_lost_mib
    assert swapped.swap_page_owner.total_mib + lost == pytest.approx(swapped.swap_used_mib, rel=0.1, abs=8)
    assert swapped.swap_page_owner.comm("dd") >= FILE_MIB * 0.8
    # ... and after swap-in dd keeps its pages, cat stays small, restored pages say so.
    back = after.at("cat")
    assert back.page_owner.comm("dd") + lost >= FILE_MIB * 0.97
    assert back.page_owner.comm("cat") < 16 + lost
    assert back.page_owner.swapped_mib >= swapped.swap_page_owner.comm("dd") * 0.9
    assert back.swap_page_owner.total_mib < 8, "records are dropped when pages come back"
    # show_stacks keeps counting dd's pages on dd's own allocation stack.
    stack = dd_stack(after)
    assert after.at("dd").stack_pages.get(stack, 0) >= FILE_MIB * PAGES_PER_MIB
    assert back.stack_pages.get(stack, 0) + back.swap_records_lost >= FILE_MIB * PAGES_PER_MIB * 0.97
    # page_owner accounts for every page used since boot: the gap to total - free - the free pages
    # on the per-cpu lists (memory it never saw: early boot, and on the debug kernel KASAN/kmemleak's,
    # 8.3 MiB of a 1 GiB guest) is small, and stays what it was at the start through every step.
    for trip in (before, after):
        start_gap = trip.snapshots[0].owner_gap_mib
        assert abs(start_gap) <= max(0.02 * trip.snapshots[0].meminfo["MemTotal"] / 1024, 8), start_gap
        for snap in trip.snapshots[1:]:
            gap = snap.owner_gap_mib
            assert abs(gap - start_gap) <= max(0.05 * snap.used_mib, 8), \
                (snap.step, gap, start_gap, snap.pcp_free_pages / PAGES_PER_MIB)


@pytest.mark.build_label("page-owner[page_owner=y,swap_page_owner=y]")
@pytest.mark.cmdline("page_owner=on,bogus")
def test_bad_suffix_keeps_swap_tracking_off(machine, shell):
    read = shell.run(["cat", workloads.SWAP_PAGE_OWNER])
    assert read.status != 0 and "Invalid argument" in read.stderr
    log = machine.console_text()
    assert re.search(r"page_owner.*bogus", log), "the kernel names the bad option"
    # page_owner itself stays usable.
    assert shell.run(["dd", f"if={workloads.PAGE_OWNER}", "of=/dev/null", "bs=64k", "count=1"]).status == 0


YY = "page-owner[page_owner=y,swap_page_owner=y]"


def swap_records(shell) -> int:
    """Records in swap_page_owner right now."""
    out = shell.check(["sh", "-c", f"grep -c '^Page allocated' {workloads.SWAP_PAGE_OWNER} || true"],
                      timeout=600)  # minutes on the debug kernel
    return int(out.stdout.strip() or 0)


@pytest.mark.build_label(YY)
@pytest.mark.cmdline("page_owner=on,swap")
@pytest.mark.parametrize("data", ["zero", "pattern"])  # zero-filled entries, or pages read back from the disk
def test_swapoff_with_pages_in_swap_leaves_no_record(shell, results_dir, data):
    config = workloads.RoundTripConfig(data=data)
    workloads.prepare_round_trip(shell, config)
    start = workloads.snapshot(shell, "start", results_dir, config)  # MemAvailable before dd sizes DD
    workloads.fill_file(shell, config)
    workloads.push_out(shell, config, room_mib=start.meminfo["MemAvailable"] // 1024)
    assert swap_records(shell) > FILE_MIB * PAGES_PER_MIB // 2
    shell.check(["rm", "/tmpfs-noswap/file"])
    shell.check(["swapoff", config.swap_device], timeout=600)
    assert swap_records(shell) == 0, "swapoff must drop or restore every record"
    after = workloads.snapshot(shell, "after-swapoff", results_dir, config)
    assert after.page_owner.comm("dd") + after.swap_lost_mib >= FILE_MIB * 0.97, \
        "swapoff brings pages back with their owner (but for the records lost)"
    came_in = "swpin_zero" if data == "zero" else "pswpin"
    assert after.vmstat.get(came_in, 0) >= FILE_MIB * PAGES_PER_MIB * 0.8, f"swapoff read them in: {came_in}"


@pytest.mark.build_label(YY)
@pytest.mark.cmdline("page_owner=on,swap")
def test_repeated_round_trips_keep_counts_stable(shell, results_dir, figures):
    config = workloads.RoundTripConfig()
    workloads.prepare_round_trip(shell, config)
    room = workloads.snapshot(shell, "start", results_dir, config).meminfo["MemAvailable"] // 1024
    workloads.fill_file(shell, config)
    first = workloads.snapshot(shell, "round-0", results_dir, config)
    stack = max(workloads.stacks_of(first.page_owner.dump, "dd").items(), key=lambda item: item[1])[0]
    rows = []
    for round_number in range(1, 6):
        workloads.push_out(shell, config, room_mib=room)
        swapped = swap_records(shell)
        shell.check(["rm", "/tmpfs-noswap/file"])
        shell.check(["sh", "-c", "cat /tmpfs/file > /dev/null"], timeout=600)
        snap = workloads.snapshot(shell, f"round-{round_number}", results_dir, config)
        rows.append((round_number, swapped / PAGES_PER_MIB, snap.page_owner.comm("dd"),
                     snap.page_owner.comm("cat"), snap.stack_pages.get(stack, 0) / PAGES_PER_MIB,
                     snap.swap_page_owner.total_mib, snap.swap_lost_mib))
        assert swapped >= FILE_MIB * PAGES_PER_MIB * 0.8, f"round {round_number}: dd's file went to swap"
        # A page whose record was lost comes back as cat's, and stays cat's: the losses add up.
        lost = snap.swap_lost_mib
        assert snap.page_owner.comm("dd") + lost >= FILE_MIB * 0.97, f"round {round_number}"
        assert snap.page_owner.comm("cat") < 16 + lost, f"round {round_number}"
        assert snap.stack_pages.get(stack, 0) + snap.swap_records_lost == pytest.approx(
            first.stack_pages[stack], rel=0.02), f"round {round_number}: nr_base_pages of dd's stack drifts"
        assert snap.swap_page_owner.total_mib < 8, f"round {round_number}: records leak"
    figures("repeated round trips (page_owner=on,swap)", "\n".join(
        ["round | swapped MiB | dd MiB | cat MiB | dd stack MiB | swap_page_owner MiB | lost MiB (total)"]
        + [f"{r:5} | {s:11.1f} | {d:6.1f} | {c:7.1f} | {k:12.1f} | {w:19.1f} | {x:16.1f}"
           for r, s, d, c, k, w, x in rows]))


@pytest.mark.build_label(YY)
@pytest.mark.cmdline("page_owner=on,swap")
def test_anonymous_memory_round_trip(shell, results_dir):
    """perl holds 256 MiB of anonymous memory; DD pushes it to swap; touching it brings it back."""
    config = workloads.RoundTripConfig()
    workloads.prepare_round_trip(shell, config)
    start = workloads.snapshot(shell, "start", results_dir, config)
    pid = anon_holder.start(shell, FILE_MIB)
    held = workloads.snapshot(shell, "held", results_dir, config)
    assert FILE_MIB <= held.page_owner.comm("perl") < FILE_MIB * 1.1, "one copy of the string"
    workloads.push_out(shell, config, room_mib=start.meminfo["MemAvailable"] // 1024,
                       resident=lambda: workloads.anon_resident_mib(shell, pid))
    out = workloads.snapshot(shell, "swapped", results_dir, config)
    assert out.swap_page_owner.comm("perl") >= FILE_MIB * 0.8
    shell.check(["rm", "/tmpfs-noswap/file"])
    anon_holder.read_back(shell, pid)
    back = workloads.snapshot(shell, "back", results_dir, config)
    assert back.page_owner.comm("perl") + back.swap_lost_mib >= FILE_MIB * 0.97, "perl keeps its anonymous pages"
    assert back.page_owner.swapped_mib >= out.swap_page_owner.comm("perl") * 0.9
    # A read fault leaves anonymous folios in the swap cache (their swap entries stay
    # allocated, so do their records), but there is never a record without a swap entry.
    assert back.swap_page_owner.total_mib <= back.swap_used_mib + 4


# SysV shm: shmem pages allocated and read back through page faults on an
# attached segment (shmem_fault), not through a tmpfs file's read/write.
# SHMW and SHMR are symlinks to perl, so the writer and the reader differ by comm.
SHM_WRITER = r"""
my ($mib) = @ARGV;
my $id = shmget(0, $mib * 1048576, 0600 | 01000);  # IPC_PRIVATE, IPC_CREAT
defined $id or die "shmget: $!\n";
my $chunk = "\x01" x 1048576;
for my $i (0 .. $mib - 1) { shmwrite($id, $chunk, $i * 1048576, 1048576) or die "shmwrite: $!\n" }
print "$id\n";
"""
SHM_READER = r"""
my ($id, $mib) = @ARGV;
my ($buf, $ones) = ("", 0);
for my $i (0 .. $mib - 1) { shmread($id, $buf, $i * 1048576, 1048576) or die "shmread: $!\n"; $ones += ($buf =~ tr/\x01//) }
$ones == $mib * 1048576 or die "shm segment $id: $ones bytes of 0x01, expected " . $mib * 1048576 . "\n";
"""


@pytest.mark.build_label(YY)
@pytest.mark.cmdline("page_owner=on,swap")
def test_sysv_shm_round_trip(shell, results_dir):
    """SHMW fills a 256 MiB SysV shm segment; DD pushes it to swap; SHMR reads it back: SHMW keeps it."""
    config = workloads.RoundTripConfig()
    workloads.prepare_round_trip(shell, config)
    shell.check(["sh", "-c", 'ln -sf "$(command -v perl)" /usr/local/bin/SHMW && '
                             'ln -sf "$(command -v perl)" /usr/local/bin/SHMR'])
    start = workloads.snapshot(shell, "start", results_dir, config)
    shmid = int(shell.check(["SHMW", "-e", SHM_WRITER, str(FILE_MIB)], timeout=600).stdout)
    try:
        held = workloads.snapshot(shell, "held", results_dir, config)
        assert held.page_owner.comm("SHMW") >= FILE_MIB
        workloads.push_out(shell, config, room_mib=start.meminfo["MemAvailable"] // 1024,
                           resident=lambda: workloads.shm_resident_mib(shell, shmid))
        out = workloads.snapshot(shell, "swapped", results_dir, config)
        assert out.swap_page_owner.comm("SHMW") >= FILE_MIB * 0.8
        shell.check(["rm", "/tmpfs-noswap/file"])
        shell.check(["SHMR", "-e", SHM_READER, str(shmid), str(FILE_MIB)], timeout=600)
        back = workloads.snapshot(shell, "back", results_dir, config)
        assert back.page_owner.comm("SHMW") + back.swap_lost_mib >= FILE_MIB * 0.97, "the writer keeps its shm pages"
        assert back.page_owner.comm("SHMR") < 16 + back.swap_lost_mib
        assert back.page_owner.swapped_mib >= out.swap_page_owner.comm("SHMW") * 0.9
        assert back.swap_page_owner.total_mib < 8, "records are dropped when pages come back"
    finally:
        shell.run(["perl", "-e", "shmctl($ARGV[0], 0, 0) or die qq(shmctl: $!\\n)", str(shmid)])  # IPC_RMID


def assert_owner_kept(trip: workloads.RoundTrip) -> None:
    swapped, back = trip.at("DD"), trip.at("cat")
    assert swapped.swap_page_owner.comm("dd") >= FILE_MIB * 0.8
    assert back.page_owner.comm("dd") + back.swap_lost_mib >= FILE_MIB * 0.97
    assert back.page_owner.comm("cat") < 16 + back.swap_lost_mib
    assert back.page_owner.swapped_mib >= swapped.swap_page_owner.comm("dd") * 0.9


# With /dev/zero, 7.3 swaps dd's pages out as zero-filled entries: no zswap, no
# I/O. A non-zero pattern makes them really go through zswap, or to the disk.
@pytest.mark.build_label(YY)
@pytest.mark.parametrize("went_out, came_in", [
    pytest.param("zswpout", "zswpin", id="zswap", marks=pytest.mark.cmdline("page_owner=on,swap zswap.enabled=1")),
    pytest.param("pswpout", "pswpin", id="disk-io", marks=pytest.mark.cmdline("page_owner=on,swap")),
])
def test_round_trip_of_a_pattern_file(shell, results_dir, went_out, came_in):
    trip = workloads.round_trip(shell, results_dir / "round-trip", workloads.RoundTripConfig(data="pattern"))
    assert trip.at("DD").vmstat.get(went_out, 0) >= FILE_MIB * PAGES_PER_MIB * 0.8, f"dd's pages: {went_out}"
    assert trip.at("cat").vmstat.get(came_in, 0) >= FILE_MIB * PAGES_PER_MIB * 0.8, f"... and {came_in}"
    assert_owner_kept(trip)


@pytest.mark.build_label(YY)
def test_harness_catches_a_warning_on_the_console(boot):
    """A WARNING printed by the kernel at any time fails the run, shutdown included."""
    with pytest.raises(HarnessError, match=r"(?s)crash.*WARNING: CPU: 0 PID: 1 at mm/page_owner.c"):
        with boot("page_owner=on,swap", name="injected-warning") as vm:
            vm.shell().check(["sh", "-c", "echo 'WARNING: CPU: 0 PID: 1 at mm/page_owner.c:1 injected+0x0/0x10' "
                                          "> /dev/kmsg"])
