"""A swap storm: several processes sweep anonymous memory larger than their share of RAM, at once.

Each worker (perl: the guest has no python3, gcc or stress-ng) fills one
string of MIB MiB, says it is ready and waits; when all are ready, they
sweep it PASSES times, writing one byte per page. Together they hold more
than the guest's memory, and a cyclic sweep over more than memory misses on
nearly every page, so every vCPU keeps swapping: each write fault is a
swap-in (do_swap_page) that frees the slot (a write fault on an exclusive
folio drops it from swap), and reclaim swaps the pages out again. Only the
sweeps are timed (the fill is not), from the guest's clock, and the
/proc/vmstat counters are read just before and just after them.

With data "zero" the pages stay zero-filled, so 7.3 swaps them out and in
without I/O (swpout_zero, swpin_zero: a bit in the swap table) and what is
left is the swap bookkeeping itself; "pattern" (0x01 bytes) writes each page
to the swap disk and reads it back.
"""

import re
import shlex
from dataclasses import dataclass

from harness.errors import HarnessError
from harness.results.parse import procfs
from harness.run.guest_command import GuestShell

DATA_BYTES = {"zero": 0, "pattern": 1}

# A string of a run-time size (a constant `"\x01" x N` would be folded into a
# second copy in the op tree), then PASSES in-place writes of one byte per page.
WORKER = r"""
my ($mib, $passes, $byte, $ready, $go) = @ARGV;
my $x = chr($byte);
$x x= $mib * 1048576;
open(my $r, ">", $ready) or die "$ready: $!\n"; close $r;
select(undef, undef, undef, 0.05) until -e $go;
my $n = length($x);
for my $pass (1 .. $passes) {
    for (my $i = 0; $i < $n; $i += 4096) { vec($x, $i, 8) = $byte; }
}
"""

# $1 worker code, $2 workers, $3 MiB each, $4 passes, $5 byte, $6 swap device, $7 ready timeout (s).
DRIVER = r"""
set -e
grep -q "^$6 " /proc/swaps || { mkswap -q "$6"; swapon "$6"; }
dir=$(mktemp -d /tmp/swap-storm.XXXXXX)
pids=""
for w in $(seq 1 "$2"); do
    ( perl -e "$1" "$3" "$4" "$5" "$dir/ready-$w" "$dir/go"; date +%s.%N > "$dir/done-$w" ) &
    pids="$pids $!"
done
waited=0
while [ "$(ls "$dir" | grep -c '^ready-')" -lt "$2" ]; do
    sleep 0.2; waited=$((waited + 1))
    [ "$waited" -lt "$(($7 * 5))" ] || { echo "workers not ready after $7 s" >&2; kill $pids; exit 1; }
done
echo "== vmstat before"; cat /proc/vmstat
echo "== start $(date +%s.%N)"
touch "$dir/go"
status=0
for pid in $pids; do wait "$pid" || status=1; done
echo "== end $(date +%s.%N)"
echo "== vmstat after"; cat /proc/vmstat
for w in $(seq 1 "$2"); do echo "== done $w $(cat "$dir/done-$w" 2>/dev/null || echo -)"; done
rm -rf "$dir"
exit "$status"
"""

SWAP_INS = ("pswpin", "swpin_zero", "zswpin")
SWAP_OUTS = ("pswpout", "swpout_zero", "zswpout")


@dataclass(frozen=True)
class StormConfig:
    workers: int = 2
    mib: int = 256  # each worker's string
    passes: int = 3
    data: str = "zero"  # a DATA_BYTES key
    swap_device: str = "/dev/vdb"
    timeout: float = 900.0

    def __post_init__(self) -> None:
        if self.data not in DATA_BYTES:
            raise HarnessError(f"unknown swap storm data {self.data!r}", hint=f"use one of {', '.join(DATA_BYTES)}")
        if self.workers < 1 or self.mib < 1 or self.passes < 1:
            raise HarnessError(f"swap storm needs at least one worker, MiB and pass, got {self}")


@dataclass(frozen=True)
class Storm:
    """One timed storm: the sweeps' wall time, each worker's, and the vmstat deltas over them."""

    config: StormConfig
    seconds: float
    worker_seconds: tuple[float, ...]
    delta: dict[str, int]

    def count(self, names: tuple[str, ...]) -> int:
        return sum(self.delta.get(name, 0) for name in names)

    @property
    def swap_ins(self) -> int:
        return self.count(SWAP_INS)

    @property
    def swap_outs(self) -> int:
        return self.count(SWAP_OUTS)

    @property
    def ins_per_second(self) -> float:
        return self.swap_ins / self.seconds

    @property
    def outs_per_second(self) -> float:
        return self.swap_outs / self.seconds

    @property
    def touched_pages(self) -> int:
        return self.config.workers * self.config.passes * self.config.mib * 256

    def as_dict(self) -> dict:
        return {"seconds": self.seconds, "worker_seconds": list(self.worker_seconds),
                "swap_ins": self.swap_ins, "swap_outs": self.swap_outs,
                "ins_per_second": self.ins_per_second, "outs_per_second": self.outs_per_second,
                "delta": {name: self.delta.get(name, 0) for name in (*SWAP_INS, *SWAP_OUTS, "pgmajfault")}}


def command(config: StormConfig, ready_timeout: int = 600) -> list[str]:
    return ["sh", "-c", DRIVER, "swap-storm", WORKER, str(config.workers), str(config.mib), str(config.passes),
            str(DATA_BYTES[config.data]), config.swap_device, str(ready_timeout)]


def _sections(output: str) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current = None
    for line in output.splitlines():
        if line.startswith("== "):
            current = line[3:]
            sections[current] = []
        elif current is not None:
            sections[current].append(line)
    return sections


def parse(config: StormConfig, output: str) -> Storm:
    """A Storm from the driver's output (the marker lines and the two /proc/vmstat reads)."""
    sections = _sections(output)
    stamps = {key.split()[0]: key.split()[1] for key in sections if re.match(r"(start|end) \d+(\.\d+)?$", key)}
    if {"start", "end"} - set(stamps) or {"vmstat before", "vmstat after"} - set(sections):
        raise HarnessError("swap storm output lacks its start/end or vmstat markers",
                           hint="the driver script failed before printing them; see commands.log")
    start, end = float(stamps["start"]), float(stamps["end"])
    before = procfs.parse_vmstat("\n".join(sections["vmstat before"]), source="/proc/vmstat before the storm")
    after = procfs.parse_vmstat("\n".join(sections["vmstat after"]), source="/proc/vmstat after the storm")
    done = [key.split() for key in sections if key.startswith("done ")]
    if len(done) != config.workers or any(len(words) != 3 or words[2] == "-" for words in done):
        raise HarnessError(f"swap storm: expected {config.workers} workers to finish, got {done}")
    workers = tuple(float(words[2]) - start for words in sorted(done, key=lambda words: int(words[1])))
    delta = {name: after[name] - before.get(name, 0) for name in after}
    return Storm(config, end - start, workers, delta)


def run(shell: GuestShell, config: StormConfig) -> Storm:
    """One storm in the guest (swap on `config.swap_device` first, if it is not on)."""
    result = shell.check(command(config), timeout=config.timeout)
    return parse(config, result.stdout)


def describe(config: StormConfig) -> str:
    return (f"{config.workers} perl workers x {config.mib} MiB ({config.data} pages), {config.passes} sweeps "
            f"writing one byte per page, swap on {shlex.quote(config.swap_device)}")
