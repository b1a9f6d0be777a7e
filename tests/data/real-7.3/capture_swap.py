"""Capture swap/ and zswap/ of this directory from live guests (see README.md).

    python3 tests/data/real-7.3/capture_swap.py [OUT_DIR [swap|zswap]]

Boots the default manifest's patched y/y kernel (cached build) twice:

1. `page_owner=on,swap`: the round trip's setup, dd (256 MiB into /tmpfs),
   DD until dd's file is in swap (harness.run.workloads.push_out), then ONE guest
   command reads everything of that state (READ_SWAPPED); then the noswap file
   is removed, `cat` reads dd's file back, and ONE guest command reads the
   state after swap-in (READ_BACK).
2. `page_owner=on,swap zswap.enabled=1`: the same up to DD, but dd writes a
   non-zero pattern (zero-filled pages never reach zswap on 7.3), then
   READ_ZSWAP (zswap's debugfs counters, the swap disk's block stat, mTHP stats).

Each part is preceded by a `### NAME UPTIME` line; the host splits the parts
into NAME.txt (capture.split) and compresses the large ones with xz -9.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from capture import split

from harness.run import workloads
from harness.bench import lab
from harness.results.parse import procfs

HERE = Path(__file__).resolve().parent
YY = "page-owner[page_owner=y,swap_page_owner=y]"
COMPRESS_OVER = 64 * 1024  # bytes: larger parts are kept as .xz

COMMON = r"""
D=/sys/kernel/debug PO=/sys/kernel/debug/page_owner S=/sys/kernel/debug/page_owner_stacks
mark() { read up idle < /proc/uptime; echo "### $1 $up"; }
handle() { sh -c 'exec 3<>"$1" && printf mode=handle >&3 && exec cat <&3' handle "$PO"; }
procfs() {
    mark "$1-free-m"; free -m
    mark "$1-proc-swaps"; cat /proc/swaps
    mark "$1-proc-meminfo"; cat /proc/meminfo
    mark "$1-proc-vmstat"; cat /proc/vmstat
}
"""
READ_SWAPPED = COMMON + r"""
procfs DD
mark DD-swap_page_owner; cat $D/swap_page_owner
mark DD-swap_page_owner_lost; cat $D/swap_page_owner_lost
mark DD-show_stacks; cat $S/show_stacks
mark DD-page_owner-mode-handle; handle
mark DD-show_stacks_handles; cat $S/show_stacks_handles
mark end
"""
READ_BACK = COMMON + r"""
procfs cat
mark cat-page_owner; cat $PO
mark cat-page_owner-mode-handle; handle
mark cat-show_stacks_handles; cat $S/show_stacks_handles
mark cat-show_stacks; cat $S/show_stacks
mark cat-swap_page_owner; cat $D/swap_page_owner
mark end
"""
READ_ZSWAP = COMMON + r"""
procfs zswap
mark zswap-swap_page_owner; cat $D/swap_page_owner
for f in $D/zswap/*; do mark "zswap-debugfs-${f##*/}"; cat "$f"; done
mark zswap-sys-block-vdb-stat; cat /sys/block/vdb/stat
mark zswap-mthp-stats-grep; grep -r . /sys/kernel/mm/transparent_hugepage/hugepages-*/stats/
mark end
"""


def fill_and_push(shell, data: str) -> None:
    config = workloads.RoundTripConfig(data=data)
    workloads.prepare_round_trip(shell, config)
    room = procfs.parse_meminfo(shell.check(["cat", "/proc/meminfo"]).stdout)["MemAvailable"] // 1024
    workloads.fill_file(shell, config)
    workloads.push_out(shell, config, room_mib=room)


def read_parts(shell, script: str, out_dir: Path) -> None:
    marks = split(shell.stream(["sh", "-c", script], timeout=300), out_dir)
    for (name, start), (_, end) in zip(marks, marks[1:]):
        path = out_dir / f"{name}.txt"
        print(f"{name}: {end - start:.2f} s in the guest, {path.stat().st_size} bytes")
        if path.stat().st_size > COMPRESS_OVER:
            subprocess.run(["xz", "-9", "-f", str(path)], check=True)


def main(out_dir: Path, parts: list[str]) -> None:
    kut = lab.kernel("default", YY)
    swap_dir, zswap_dir = out_dir / "swap", out_dir / "zswap"
    for directory in (swap_dir, zswap_dir):
        directory.mkdir(parents=True, exist_ok=True)
    if "swap" in parts:
        capture_swap(kut, swap_dir, out_dir / "runs")
    if "zswap" in parts:
        capture_zswap(kut, zswap_dir, out_dir / "runs")


def capture_swap(kut, swap_dir: Path, runs: Path) -> None:
    with lab.booted(kut, lab.spec_for(kut, "page_owner=on,swap"), "swap", runs) as vm:
        shell = vm.shell()
        fill_and_push(shell, "zero")
        read_parts(shell, READ_SWAPPED, swap_dir)
        shell.check(["rm", "/tmpfs-noswap/file"])
        shell.check(["sh", "-c", "cat /tmpfs/file > /dev/null"], timeout=600)
        read_parts(shell, READ_BACK, swap_dir)
        print(shell.check(["uname", "-a"]).stdout.strip())


def capture_zswap(kut, zswap_dir: Path, runs: Path) -> None:
    with lab.booted(kut, lab.spec_for(kut, "page_owner=on,swap zswap.enabled=1"), "zswap", runs) as vm:
        shell = vm.shell()
        fill_and_push(shell, "pattern")
        read_parts(shell, READ_ZSWAP, zswap_dir)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "capture-out", sys.argv[2:] or ["swap", "zswap"])
