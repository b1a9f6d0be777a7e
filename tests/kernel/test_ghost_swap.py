"""Dynamic ghost swap (/dev/ghostswap) on Linux 7.3, proven in the guest.

Every observable check of ../shared/specs/ghost-swap.md, on the combined
kernel of the manifest ghost-swap-7.3 (page_owner swap series + ghost swap
series). The machines have no swap disk: the ghost device is the only swap,
so zswap has nowhere to write back to.
"""

import statistics

import pytest

from harness.results.parse import procfs
from harness.run import swap_backends as backends, workloads

pytestmark = [pytest.mark.manifest("ghost-swap-7.3"), pytest.mark.machine(disks=())]

GHOST = backends.GHOST_DEVICE
ZSWAP_ON = "zswap.enabled=1"
PAGES_PER_MIB = 256
CLUSTER_PAGES = 512  # SWAPFILE_CLUSTER with THP swap on x86_64


def header_bytes(shell) -> bytes:
    out = shell.check(["sh", "-c", f"head -c 8192 {GHOST} | od -A n -t x1 -v"]).stdout
    return bytes.fromhex("".join(out.split()))


def meminfo(shell) -> dict[str, int]:
    return procfs.parse_meminfo(shell.check(["cat", "/proc/meminfo"]).stdout)


def expected_ghost_pages(shell) -> int:
    """8 x RAM in whole clusters, as the series sizes the device."""
    ram_pages = meminfo(shell)["MemTotal"] // 4
    return ram_pages * 8 // CLUSTER_PAGES * CLUSTER_PAGES


def ghost_config(**overrides) -> workloads.RoundTripConfig:
    return workloads.RoundTripConfig(swap_device=GHOST, **overrides)


def oom_kills(shell) -> int:
    return procfs.parse_vmstat(shell.check(["cat", "/proc/vmstat"]).stdout).get("oom_kill", 0)


@pytest.mark.cmdline(ZSWAP_ON)
def test_swapon_without_mkswap(shell):
    header = header_bytes(shell)
    assert len(header) == 4096, "/dev/ghostswap reads as exactly one page"
    assert header[4086:4096] == b"SWAPSPACE2"
    assert int.from_bytes(header[1024:1028], "little") == 1, "swap header version"
    pages = expected_ghost_pages(shell)
    assert int.from_bytes(header[1028:1032], "little") == pages - 1, "last_page: 8 x RAM"
    assert int.from_bytes(header[1032:1036], "little") == 0, "no bad pages"

    swap_total = meminfo(shell)["SwapTotal"]
    shell.check(["swapon", GHOST])  # no mkswap
    device = backends.swap_of(shell, GHOST)
    assert device is not None and device.type == "ghost"
    assert device.size_kb == (pages - 1) * 4, "size: 8 x MemTotal less the header page"
    assert meminfo(shell)["SwapTotal"] - swap_total == device.size_kb

    again = shell.run(["swapon", GHOST])
    assert again.status != 0 and "Device or resource busy" in again.stderr

    # Garbage written to the device is discarded, like /dev/null: the header stays.
    shell.check(["sh", "-c", f"head -c 1048576 /dev/urandom > {GHOST}"])
    assert header_bytes(shell) == header
    assert backends.swap_of(shell, GHOST) == device

    shell.check(["swapoff", GHOST])
    assert meminfo(shell)["SwapTotal"] == swap_total
    assert backends.swap_of(shell, GHOST) is None
    twice = shell.run(["swapoff", GHOST])
    assert twice.status != 0 and "Invalid argument" in twice.stderr

    shell.check(["swapon", "-p", "7", GHOST])
    assert backends.swap_of(shell, GHOST).priority == 7
    shell.check(["swapoff", GHOST])


def available_mib(shell) -> int:
    """MemAvailable: what DD may pin without an OOM kill (tmpfs data is not in it)."""
    return meminfo(shell)["MemAvailable"] // 1024


@pytest.mark.cmdline(ZSWAP_ON)
def test_pressure_keeps_data_in_zswap_only(shell, figures):
    config = ghost_config(data="pattern")
    swap_total = meminfo(shell)["SwapTotal"]
    shell.check(["swapon", GHOST])
    workloads.prepare_round_trip(shell, config)
    room = available_mib(shell)
    workloads.fill_file(shell, config)
    shell.check(["sh", "-c", "head -c 24M /dev/urandom > /tmpfs/random"])
    sums = backends.checksum(shell, "/tmpfs/file", "/tmpfs/random")

    before = backends.counters(shell)
    workloads.push_out(shell, config, room_mib=room - 24)
    after = backends.counters(shell)
    pushed_pages = config.file_mib * PAGES_PER_MIB * 0.8
    assert after.since(before, "zswpout") >= pushed_pages
    assert after.zswap["stored_pages"] >= pushed_pages
    assert backends.swap_of(shell, GHOST).used_mib >= config.file_mib * 0.8
    assert after.since(before, "pswpout") == 0, "nothing is written to a block device"
    assert after.since(before, "zswpwb") == 0 and after.zswap["written_back_pages"] == 0
    # Incompressible pages have nowhere to go: they stay in memory.
    assert workloads.resident_mib(shell, "/tmpfs/random") >= 24 * 0.9

    shell.check(["rm", "/tmpfs-noswap/file"])
    assert backends.checksum(shell, "/tmpfs/file", "/tmpfs/random") == sums
    shell.check(["swapoff", GHOST], timeout=600)
    final = backends.counters(shell)
    assert final.zswap["stored_pages"] == 0
    assert final.meminfo["SwapTotal"] == swap_total
    assert backends.checksum(shell, "/tmpfs/file", "/tmpfs/random") == sums
    figures("ghost swap under pressure, zswap on (counters during the push)", "\n".join(
        f"{name:<20} {after.since(before, name):>10}" for name in ("zswpout", "zswpin", "pswpout", "zswpwb"))
        + f"\nstored_pages         {after.zswap['stored_pages']:>10}"
          f"\npool_total_size      {after.zswap.get('pool_total_size', 0):>10}")


@pytest.mark.cmdline("zswap.enabled=0")
def test_without_zswap_only_zero_pages_leave_memory(shell):
    # No reserve: the zero pages still in memory are the reserve, as they cost
    # nothing to push out. With 12 MiB kept back, reclaim took page cache instead
    # and 25.8 MiB of zero pages stayed (two vCPUs, twice in a row).
    zero = ghost_config(file_mib=128, data="zero", reserve_mib=0)
    data = ghost_config(file_mib=128, data="pattern")
    shell.check(["swapon", GHOST])
    workloads.prepare_round_trip(shell, zero)
    workloads.fill_file(shell, zero, "/tmpfs/zero")
    workloads.fill_file(shell, data, "/tmpfs/file")
    sums = backends.checksum(shell, "/tmpfs/zero", "/tmpfs/file")
    kills = oom_kills(shell)

    before = backends.counters(shell)
    # Only the zero-filled file can make room: DD may pin what is free plus that.
    workloads.push_out(shell, zero, room_mib=available_mib(shell) + zero.file_mib,
                       resident=lambda: workloads.resident_mib(shell, "/tmpfs/zero"))
    after = backends.counters(shell)
    assert after.since(before, "swpout_zero") >= zero.file_mib * PAGES_PER_MIB * 0.8
    assert workloads.resident_mib(shell, "/tmpfs/zero") <= zero.file_mib * 0.2
    # Everything else stays, with nowhere to go: not written, not lost, no OOM kill.
    assert workloads.resident_mib(shell, "/tmpfs/file") >= data.file_mib * 0.99
    assert after.since(before, "zswpout") == 0 and after.since(before, "pswpout") == 0
    assert oom_kills(shell) == kills

    shell.check(["rm", "/tmpfs-noswap/file"])
    assert backends.checksum(shell, "/tmpfs/zero", "/tmpfs/file") == sums
    shell.check(["swapoff", GHOST], timeout=600)
    assert backends.checksum(shell, "/tmpfs/zero", "/tmpfs/file") == sums


SWAPOFF_UNDER_STRICT_COMMIT = """
echo 2 > /proc/sys/vm/overcommit_memory
swapoff "$1"; status=$?
echo 0 > /proc/sys/vm/overcommit_memory
exit $status
"""


@pytest.mark.cmdline(ZSWAP_ON)
def test_swapoff_without_memory_to_bring_pages_back_fails_cleanly(shell):
    """Under strict overcommit, swapoff must fit what it brings back into the
    commit limit; it cannot, so the kernel refuses with ENOMEM and nothing moves."""
    config = ghost_config(data="pattern")
    shell.check(["swapon", GHOST])
    workloads.prepare_round_trip(shell, config)
    room = available_mib(shell)
    workloads.fill_file(shell, config)
    sums = backends.checksum(shell, "/tmpfs/file")
    workloads.push_out(shell, config, room_mib=room)
    held = backends.swap_of(shell, GHOST)
    assert held.used_mib >= config.file_mib * 0.8

    info = meminfo(shell)
    ram_commit_limit = info["CommitLimit"] - info["SwapTotal"]  # overcommit_ratio of RAM
    assert info["Committed_AS"] > ram_commit_limit, "precondition: more is committed than RAM may hold"
    refused = shell.run(["sh", "-c", SWAPOFF_UNDER_STRICT_COMMIT, "swapoff", GHOST], timeout=120)
    assert refused.status != 0 and "Cannot allocate memory" in refused.stderr
    assert backends.swap_of(shell, GHOST).used_kb == pytest.approx(held.used_kb, rel=0.05)
    assert backends.checksum(shell, "/tmpfs/file") == sums, "nothing lost"

    shell.check(["rm", "/tmpfs-noswap/file"])
    shell.check(["swapoff", GHOST], timeout=600)
    assert backends.checksum(shell, "/tmpfs/file") == sums


BRD_KIB = 8 * 2048 * 1024  # a RAM disk as large as the ghost device of a 2 GiB guest (8 x RAM)


@pytest.mark.machine(memory_mb=2048)
@pytest.mark.cmdline(f"{ZSWAP_ON} brd.rd_nr=1 brd.rd_size={BRD_KIB}")
def test_static_cost_is_far_below_a_static_cluster_array(shell, figures):
    disk = backends.Backend("brd disk", "/dev/ram0", zswap=True, setup='swapon "$1"')
    ghost = backends.BACKENDS["ghost"]
    shell.check(["mkswap", "-q", disk.device])
    sizes, costs = {}, {}
    for backend in (ghost, disk):
        backends.swap_on(shell, backend)
        sizes[backend.name] = backends.swap_of(shell, backend.device).size_kb / 2**20  # GiB
        backends.swap_off(shell, backend)  # the first swapon also sets up what later ones reuse
        costs[backend.name] = backends.static_cost_kib(shell, backend, repeats=5)
    ghost_kib, disk_kib = (statistics.median(costs[b.name]) for b in (ghost, disk))
    rows = [f"{name:<20} {sizes[name]:6.1f} GiB  {statistics.median(kib):8.0f} KiB  "
            f"{statistics.median(kib) / sizes[name]:7.1f} KiB/GiB  rounds: {kib}" for name, kib in costs.items()]
    figures("static memory cost of swapon (MemFree before - after, median of 5)", "\n".join(rows))
    assert sizes[ghost.name] >= 15, "8 x 2 GiB"
    # A disk device allocates its cluster array up front: clearly measurable.
    assert disk_kib / sizes[disk.name] >= 16  # 48-byte swap_cluster_info per 2 MiB: 24 KiB/GiB
    assert ghost_kib < disk_kib / 8


@pytest.mark.cmdline(f"{ZSWAP_ON} page_owner=on,swap")
def test_round_trip_on_ghost_keeps_dd_as_owner(shell, results_dir, figures):
    shell.check(["swapon", GHOST])
    trip = workloads.round_trip(shell, results_dir / "round-trip", ghost_config(data="pattern"))
    figures("page_owner swap round trip on /dev/ghostswap (zswap)", workloads.table({"ghost": trip}))
    file_mib = trip.at("dd").page_owner.comm("dd")
    assert file_mib >= 256 * 0.97
    swapped = trip.at("DD")
    assert swapped.swap_used_mib >= 256 * 0.85
    assert swapped.swap_page_owner.comm("dd") >= 256 * 0.8
    assert swapped.swap_page_owner.total_mib == pytest.approx(swapped.swap_used_mib, rel=0.1, abs=8)
    assert swapped.vmstat["pswpout"] == trip.at("start").vmstat["pswpout"] == 0
    back = trip.at("cat")
    assert back.page_owner.comm("dd") >= 256 * 0.97
    assert back.page_owner.comm("cat") < 16
    assert back.page_owner.swapped_mib >= swapped.swap_page_owner.comm("dd") * 0.9
    shell.check(["swapoff", GHOST], timeout=600)


STRESS_SECONDS = 120
STRESS_SCRIPT = r"""
set -e
cg=/sys/fs/cgroup
mountpoint -q $cg || mount -t cgroup2 none $cg
echo +memory > $cg/cgroup.subtree_control
mkdir -p $cg/stress
echo "$1" > $cg/stress/memory.max
echo $$ > $cg/stress/cgroup.procs
yes mmharness-stress | dd of=/tmpfs/stress bs=1M count="$2" iflag=fullblock status=none
first=$(sha256sum < /tmpfs/stress)
perl -e '
    my ($mib, $seconds) = @ARGV;
    my $n = $mib * 256;
    my @pages = map { sprintf("%08d", $_) x 512 } 0 .. $n - 1;
    my ($end, $checks, $bad) = (time + $seconds, 0, 0);
    while (time < $end) {
        for (1 .. 256) {
            my $i = int(rand($n));
            $bad++ if $pages[$i] ne sprintf("%08d", $i) x 512;
            $checks++;
        }
    }
    for my $i (0 .. $n - 1) { $bad++ if $pages[$i] ne sprintf("%08d", $i) x 512 }
    print "anon checks $checks bad $bad
";
    exit($bad ? 1 : 0);
' "$3" "$4" &
anon=$!
end=$(( $(date +%s) + $4 )); rounds=0
while [ "$(date +%s)" -lt "$end" ]; do
    [ "$(sha256sum < /tmpfs/stress)" = "$first" ] || { echo "tmpfs checksum changed"; exit 1; }
    rounds=$((rounds + 1))
done
wait $anon
echo "tmpfs rounds $rounds"
grep -H . $cg/stress/memory.events $cg/stress/memory.stat | grep -E 'oom|zswp|pswp'
"""


@pytest.mark.cmdline(ZSWAP_ON)
def test_memcg_stress_three_times_its_limit(shell, figures):
    """tmpfs (160 MiB) and anonymous memory (96 MiB) in a memcg of 96 MiB, for two minutes."""
    config = ghost_config()
    shell.check(["swapon", GHOST])
    workloads.prepare_round_trip(shell, config)
    before = backends.counters(shell)
    run = shell.run(["sh", "-c", STRESS_SCRIPT, "stress", "96M", "160", "96", str(STRESS_SECONDS)],
                    timeout=STRESS_SECONDS + 600)
    assert run.status == 0, f"stress failed:\n{run.stdout}\n{run.stderr}"
    assert "anon checks" in run.stdout and " bad 0" in run.stdout
    stats = {line.rsplit(":", 1)[-1].split()[0]: int(line.split()[-1]) for line in run.stdout.splitlines()
             if line.startswith("/sys/fs/cgroup/")}
    figures("memcg stress on ghost swap (256 MiB in a 96 MiB memcg, 2 min)", run.stdout.strip())
    assert stats.get("oom_kill", 0) == 0 and stats.get("oom", 0) == 0
    assert stats["zswpout"] > 0
    after = backends.counters(shell)
    assert after.since(before, "pswpout") == 0
    shell.check(["rm", "-f", "/tmpfs/stress"])
    shell.check(["rmdir", "/sys/fs/cgroup/stress"])
    shell.check(["swapoff", GHOST], timeout=600)
