"""Capture the handle-mode set of this directory from a live guest (see README.md).

    python3 tests/data/real-7.3/capture.py [OUT_DIR]

Boots the upstream-7.3 manifest's kernel with page_owner=on (cached build),
runs the round trip's setup and its dd step (256 MiB into /tmpfs), then, in
ONE guest command with nothing else running, reads page_owner in handle mode,
show_stacks_handles, show_stacks, page_owner as full text and page_owner in
stack_handle mode, each part preceded by a `### NAME UPTIME` marker line.
The host splits the parts into NAME.txt and compresses them with xz -9.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from harness.run import workloads
from harness.bench import lab

HERE = Path(__file__).resolve().parent

READ_ALL = r"""
PO=/sys/kernel/debug/page_owner S=/sys/kernel/debug/page_owner_stacks
mark() { read up idle < /proc/uptime; echo "### $1 $up"; }
mode() { sh -c 'exec 3<>"$1" && printf "mode=$2" >&3 && exec cat <&3' mode "$PO" "$1"; }
mark page_owner-mode-handle; mode handle
mark show_stacks_handles; cat $S/show_stacks_handles
mark show_stacks; cat $S/show_stacks
mark page_owner; cat $PO
mark page_owner-mode-stack_handle; mode stack_handle
mark end
"""


def split(lines, out_dir: Path) -> list[tuple[str, float]]:
    """Write each `### NAME UPTIME` part to NAME.txt; returns (name, guest uptime at its start)."""
    marks: list[tuple[str, float]] = []
    current = None
    try:
        for line in lines:
            if line.startswith("### "):
                if current:
                    current.close()
                _, name, uptime = line.split()
                marks.append((name, float(uptime)))
                current = None if name == "end" else open(out_dir / f"{name}.txt", "w")
            elif current:
                current.write(line + "\n")
    finally:
        if current:
            current.close()
    return marks


def main(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    kut = lab.kernel("upstream-7.3")
    with lab.booted(kut, lab.spec_for(kut, "page_owner=on"), "run", out_dir) as vm:
        shell = vm.shell()
        config = workloads.RoundTripConfig()
        workloads.prepare_round_trip(shell, config)
        workloads.fill_file(shell, config)
        (out_dir / "free-m-before.txt").write_text(shell.check(["free", "-m"]).stdout)
        marks = split(shell.stream(["sh", "-c", READ_ALL], timeout=300), out_dir)
        (out_dir / "free-m-after.txt").write_text(shell.check(["free", "-m"]).stdout)
        uname = shell.check(["uname", "-a"]).stdout
    print(uname.strip())
    for (name, start), (_, end) in zip(marks, marks[1:]):
        print(f"{name}: {end - start:.2f} s in the guest")
        subprocess.run(["xz", "-9", "-f", str(out_dir / f"{name}.txt")], check=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "capture-out")
