"""Ghost swap against what a user would pick instead: zram, and a virtio-blk swap partition with zswap.

The same workload on each backend, each in a fresh VM of the same size
booted from the same kernel (manifest ghost-swap-7.3) in the same run: dd
writes FILE_MIB of compressible data to tmpfs, DD pins a noswap tmpfs
until that file is out of memory, cat reads it back. Ratios are against zram.
"""

import time

from harness.bench import lab
from harness.run import swap_backends as backends, workloads
from harness.run.machine import Disk

FILE_MIB = 256
DISK_MIB = 1024  # the virtio-blk swap partition, and zram's disksize
MANIFEST = "ghost-swap-7.3"


def measure(shell, backend: backends.Backend, out_dir) -> dict:
    size = DISK_MIB << 20
    # The first swapon of a boot also sets up what later ones reuse (e.g. the I/O mempool).
    static = backends.static_cost_kib(shell, backend, size, repeats=4)[1:]
    backends.swap_on(shell, backend, size)
    advertised_gib = backends.swap_of(shell, backend.device).size_kb / 2**20
    config = workloads.RoundTripConfig(file_mib=FILE_MIB, data="pattern", swap_device=backend.device)
    workloads.prepare_round_trip(shell, config)
    room = shell.check(["awk", "/MemAvailable/ {print int($2 / 1024)}", "/proc/meminfo"]).stdout
    workloads.fill_file(shell, config)
    start = backends.counters(shell)
    pushed_at = time.monotonic()
    workloads.push_out(shell, config, room_mib=int(room))
    push_seconds = time.monotonic() - pushed_at
    out = backends.counters(shell)
    swapped_mib = backends.swap_of(shell, backend.device).used_mib
    shell.check(["rm", "/tmpfs-noswap/file"])
    read_at = time.monotonic()
    shell.check(["sh", "-c", "cat /tmpfs/file > /dev/null"], timeout=600)
    read_seconds = time.monotonic() - read_at
    back = backends.counters(shell)
    if backend.device == "/dev/zram0":
        original, stored = out.zram_mm_stat[0], out.zram_mm_stat[2]  # orig_data_size, mem_used_total
    else:
        original, stored = out.zswap.get("stored_pages", 0) * 4096, out.zswap.get("pool_total_size", 0)
    device = backend.device.rsplit("/", 1)[-1]
    return {
        "out_mib": swapped_mib,
        "in_mib": (back.since(out, "pswpin") + back.since(out, "zswpin")) / 256,
        "stored_mib": stored / 2**20,
        "ratio": original / stored if stored else 0.0,
        "push_s": push_seconds,
        "read_s": read_seconds,
        "static_kib_per_gib": lab.median(static) / advertised_gib,
        "pswpout": out.since(start, "pswpout"),
        "device_written_mib": (out.written_sectors.get(device, 0) - start.written_sectors.get(device, 0)) / 2048,
    }


def bench_ghost():
    kut = lab.kernel(MANIFEST)
    machine = kut.manifest.machine
    results = lab.results_dir("ghost")
    yield (f"kernel {kut.label} ({MANIFEST}); {machine.memory_mb} MiB, {machine.cpus} vCPUs, "
           f"{FILE_MIB} MiB of compressible data pushed out and read back; fresh VM per backend")
    rows = {}
    for key, backend in backends.BACKENDS.items():
        spec = lab.spec_for(kut, "zswap.enabled=1", disks=(Disk(DISK_MIB, swap=True),))
        with lab.booted(kut, spec, key, results) as vm:
            rows[key] = measure(vm.shell(), backend, results / key)
        yield f"  {backend.name}: done"
    base = rows["zram"]
    yield (f"{'backend':<22}{'out MiB':>9}{'in MiB':>8}{'stored MiB':>11}{'ratio':>7}"
           f"{'push s':>8}{'x zram':>7}{'read s':>8}{'x zram':>7}{'static KiB/GiB':>15}"
           f"{'pswpout':>9}{'disk MiB':>9}")
    for key, row in rows.items():
        yield (f"{backends.BACKENDS[key].name:<22}{row['out_mib']:9.0f}{row['in_mib']:8.0f}"
               f"{row['stored_mib']:11.1f}{row['ratio']:7.1f}{row['push_s']:8.1f}"
               f"{row['push_s'] / base['push_s']:7.2f}{row['read_s']:8.1f}{row['read_s'] / base['read_s']:7.2f}"
               f"{row['static_kib_per_gib']:15.1f}{row['pswpout']:9d}{row['device_written_mib']:9.1f}")
    yield f"results: {results}"
