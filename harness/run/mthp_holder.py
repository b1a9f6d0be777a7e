"""A perl process holding anonymous memory whose pages may have two owners, driven over a FIFO.

The kernel under test has no madvise() (tinyconfig: CONFIG_ADVISE_SYSCALLS=n),
so the holder works with the system calls it has: it mmap()s an anonymous
(private, or shared: shmem) region of `pages` pages (64 KiB-aligned) and faults each page in address
order with pread() from a page of 0x01 bytes, under the comm `owner`; with
two owners it renames itself (prctl PR_SET_NAME) to `child` before each odd
page, which it reads first (the zero page is mapped) and then fills with 0x02
by read(): copy on write allocates it, on another stack than the first
owner's faults (page_owner_stacks count the two owners apart). page_owner records the comm of the
task that allocates a page, so even pages are `owner`'s and odd ones `child`'s,
and their age on the LRU follows their address.

It runs in its own memory cgroup (`memcg`): writing to memory.reclaim from
the holder's CPU reclaims its pages oldest first, i.e. in address order, into
consecutive swap slots of that CPU's swap cluster. Whether such a run of
order-0 entries can come back as one 64 KiB folio depends on alignment
(mm/memory.c thp_swap_suitable_orders: page index and swap offset agree
modulo 16); `move D` mremap()s the region (its swap PTEs move with it) so
that its first page index is D modulo 16, which aligns it with its slots.

Commands (a line written to DIR/ctl, answered in DIR/NAME.done):
`touch`: read every page (faults it back in), answer "ONES TWOS" (bytes);
`move D`: answer the region's new start; `exit`.
`pagemap` reads /proc/PID/pagemap of the region: per page, present (PFN),
swapped (type, offset) or neither.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

from harness.errors import HarnessError
from harness.results.parse.records import SWP_TYPE_SHIFT
from harness.run.guest_command import GuestShell

PAGE = 4096
HOLDER = r"""
use strict;
my ($pages, $two, $owner, $child, $dir, $flags) = @ARGV;
sub sys { my $n = shift; my $r = syscall($n, @_); die "syscall $n: $!\n" if $r == -1; $r }
my %fill;
for my $byte (1, 2) {
    open(my $f, "+>", "$dir/fill-$byte") or die "$dir/fill-$byte: $!\n";
    print $f chr($byte) x 4096; close $f;
    open($fill{$byte}, "<", "$dir/fill-$byte") or die;
}
my $len = $pages * 4096;
# syscall() passes strings as pointers: the flags from @ARGV are made a number.
sub reserve { my $at = sys(9, 0, $len + 2 * 65536, $_[0], 0 + $_[1], -1, 0); ($at + 65535) & ~65535 }
my $start = reserve(3, $flags);  # PROT_READ|PROT_WRITE
my $name = "";
for my $i (0 .. $pages - 1) {
    my $byte = ($two && $i % 2) ? 2 : 1;
    my $want = $byte == 2 ? $child : $owner;
    if ($want ne $name) { sys(157, 15, $want); $name = $want }  # prctl(PR_SET_NAME)
    if ($byte == 1) {  # pread64 ...
        sys(17, fileno($fill{1}), $start + $i * 4096, 4096, 0) == 4096 or die "short pread\n";
    } else {  # ... or a read fault first (the zero page), then read(): copy on write from the zero
        # page allocates it (do_wp_page), so the two owners' pages have different stacks (a stack
        # saved in a page fault stops at the exception frame, whatever system call faulted)
        my $zero = unpack("P1", pack("J", $start + $i * 4096));
        sysseek($fill{2}, 0, 0) or die "seek: $!\n";
        sys(0, fileno($fill{2}), $start + $i * 4096, 4096) == 4096 or die "short read\n";
    }
}
sys(157, 15, $owner);
my %do = (
    touch => sub {
        my ($ones, $twos) = (0, 0);
        for my $i (0 .. $pages - 1) {
            my $page = unpack("P4096", pack("J", $start + $i * 4096));
            $ones += ($page =~ tr/\x01//); $twos += ($page =~ tr/\x02//);
        }
        "$ones $twos";
    },
    move => sub {
        my $to = reserve(0, 0x22) + $_[0] * 4096;  # PROT_NONE, then MREMAP_MAYMOVE|MREMAP_FIXED onto it
        sys(25, $start, $len, $len, 3, $to) == $to or die "mremap\n";
        $start = $to;
        "$start";
    },
);
open(my $r, ">", "$dir/ready.tmp") or die; print $r "$$ $start $pages\n"; close $r;
rename("$dir/ready.tmp", "$dir/ready") or die;
while (1) {
    open(my $ctl, "<", "$dir/ctl") or die "$dir/ctl: $!\n";
    while (my $line = <$ctl>) {
        my ($cmd, @args) = split(" ", $line);
        exit 0 if $cmd eq "exit";
        my $out = $do{$cmd} ? $do{$cmd}->(@args) : "unknown command $cmd";
        open(my $o, ">", "$dir/$cmd.tmp") or die; print $o "$out\n"; close $o;
        rename("$dir/$cmd.tmp", "$dir/$cmd.done") or die;
    }
    close $ctl;
}
"""

PAGEMAP = r"""
my ($pid, $start, $pages) = @ARGV;
open(my $f, "<:raw", "/proc/$pid/pagemap") or die "pagemap: $!";
sysseek($f, $start / 4096 * 8, 0) or die "seek: $!";
my ($buf, $got) = ("", 0);
while ($got < $pages * 8) { my $n = sysread($f, $buf, $pages * 8 - $got, $got); die "read: $!" unless $n; $got += $n }
for my $v (unpack("Q*", $buf)) {
    if (($v >> 63) & 1) { printf("P%x\n", $v & ((1 << 55) - 1)) }
    elsif (($v >> 62) & 1) { printf("S%x %x\n", $v & 31, ($v >> 5) & ((1 << 50) - 1)) }
    else { print "-\n" }
}
"""


CGROUP = "/sys/fs/cgroup"


@dataclass(frozen=True)
class Holder:
    pid: int
    start: int  # first byte of the region (64 KiB-aligned until moved)
    pages: int
    directory: str
    owner: str
    child: str  # comm of the odd pages' owner ("" with one owner)
    memcg: str  # its memory cgroup
    cpu: int

    def expected_owner(self, index: int) -> str:
        """Who allocated page `index` of the region."""
        return self.child if self.child and index % 2 else self.owner


MAP_SHARED_ANONYMOUS, MAP_PRIVATE_ANONYMOUS = 0x21, 0x22


def start_holder(shell: GuestShell, mib: int, owner: str, child: str = "", cpu: int = 0, shared: bool = False,
                 directory: str = "/tmp/mthp-holder", memcg: str = "mthp-holder", timeout: float = 600) -> Holder:
    """Start the holder in a memory cgroup of its own, pinned to `cpu`, and wait until its region is filled.

    shared: the region is a shared anonymous mapping (shmem, on the internal mount: the folio
    sizes of hugepages-<size>kB/shmem_enabled) instead of private anonymous memory."""
    cgroup = make_memcg(shell, memcg)
    script = """
        set -e
        rm -rf "$1" && mkdir -p "$1" && mkfifo "$1/ctl"
        ln -sf "$(command -v perl)" "/usr/local/bin/$2"
        sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' in-memcg "$8" \
            taskset -c "$3" "$2" -e "$4" "$5" "$6" "$2" "$7" "$1" "$9" > "$1/log" 2>&1 < /dev/null &
        i=0
        while [ ! -e "$1/ready" ]; do
            if [ -s "$1/log" ] || [ $i -ge 3000 ]; then cat "$1/log" >&2; exit 1; fi
            i=$((i + 1)); sleep 0.2
        done
        cat "$1/ready"
    """
    out = shell.check(["sh", "-c", script, "start-holder", directory, owner, str(cpu), HOLDER, str(mib * 256),
                       "1" if child else "0", child or "-", cgroup,
                       str(MAP_SHARED_ANONYMOUS if shared else MAP_PRIVATE_ANONYMOUS)], timeout=timeout)
    pid, start, pages = (int(word) for word in out.stdout.split())
    return Holder(pid, start, pages, directory, owner, child, cgroup, cpu)


def command(shell: GuestShell, holder: Holder, *words: str, timeout: float = 600) -> str:
    """Send one command to the holder and return its answer."""
    script = """
        rm -f "$1/$2.done"
        echo "$2 $4" > "$1/ctl"
        while [ ! -e "$1/$2.done" ]; do kill -0 "$3" 2>/dev/null || { cat "$1/log" >&2; exit 1; }; sleep 0.2; done
        cat "$1/$2.done"
    """
    name, *args = words
    out = shell.check(["sh", "-c", script, "holder-command", holder.directory, name, str(holder.pid), " ".join(args)],
                      timeout=timeout)
    return out.stdout.strip()


def stop_holder(shell: GuestShell, holder: Holder) -> None:
    shell.run(["sh", "-c", 'echo exit > "$1/ctl"; kill "$2" 2>/dev/null; true', "stop-holder",
               holder.directory, str(holder.pid)])


def make_memcg(shell: GuestShell, name: str) -> str:
    """A memory cgroup under the root (cgroup2 at /sys/fs/cgroup); its path."""
    path = f"{CGROUP}/{name}"
    shell.check(["sh", "-c", 'echo +memory > "$1/cgroup.subtree_control" && mkdir -p "$2"', "memcg", CGROUP, path])
    return path


def in_memcg(path: str, *command: str) -> list[str]:
    """`command` run as a member of the cgroup at `path`."""
    return ["sh", "-c", 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"', "in-memcg", path, *command]


def memcg_reclaim(shell: GuestShell, memcg: str, mib: int, cpu: int = 0, timeout: float = 600) -> bool:
    """memory.reclaim of a cgroup, swap-backed memory only (swappiness=max), written from `cpu`;
    False if the kernel reclaimed less than asked."""
    script = 'taskset -c "$3" sh -c \'echo "$2M swappiness=max" > "$1/memory.reclaim"\' reclaim "$1" "$2" 2>/dev/null'
    return shell.run(["sh", "-c", script, "reclaim", memcg, str(mib), str(cpu)], timeout=timeout).status == 0


def reclaim(shell: GuestShell, holder: Holder, mib: int, timeout: float = 600) -> bool:
    """memcg_reclaim of the holder's cgroup from the holder's CPU."""
    return memcg_reclaim(shell, holder.memcg, mib, holder.cpu, timeout)


def move(shell: GuestShell, holder: Holder, phase: int) -> Holder:
    """mremap() the region to a new start whose page index is `phase` modulo 16."""
    start = int(command(shell, holder, "move", str(phase)))
    if (start // PAGE) % 16 != phase:
        raise HarnessError(f"the holder moved its region to {start:#x}, not to a page index {phase} modulo 16")
    return replace(holder, start=start)


def slot_phase(states: list["PageState"], nr: int = 16) -> tuple[int, int]:
    """The most common (swap offset - page index) modulo nr among swapped pages, and how many share it."""
    phases = Counter((s.swap_offset - i) % nr for i, s in enumerate(states) if s.swap_offset is not None)
    if not phases:
        raise HarnessError("no page of the region is in swap")
    return phases.most_common(1)[0]


@dataclass(frozen=True)
class PageState:
    pfn: int | None = None  # present
    swap_type: int | None = None  # swapped out
    swap_offset: int | None = None

    @property
    def swap_entry(self) -> int | None:
        """swp_entry_t.val, as swap_page_owner prints it (x86_64)."""
        if self.swap_offset is None or self.swap_type is None:
            return None
        return self.swap_type << SWP_TYPE_SHIFT | self.swap_offset


def parse_pagemap(text: str) -> list[PageState]:
    """The PAGEMAP script's output: `P<pfn>`, `S<type> <offset>` (hex) or `-`, one line per page."""
    states = []
    for number, line in enumerate(text.splitlines(), 1):
        if line == "-":
            states.append(PageState())
        elif line.startswith("P"):
            states.append(PageState(pfn=int(line[1:], 16)))
        elif line.startswith("S") and len(line[1:].split()) == 2:
            kind, offset = line[1:].split()
            states.append(PageState(swap_type=int(kind, 16), swap_offset=int(offset, 16)))
        else:
            raise HarnessError(f"pagemap line {number}: expected P<pfn>, S<type> <offset> or -, got {line!r}")
    return states


def pagemap(shell: GuestShell, holder: Holder, keep: Path | None = None) -> list[PageState]:
    """The region's pages now; `keep` saves the raw text."""
    out = shell.check(["perl", "-e", PAGEMAP, str(holder.pid), str(holder.start), str(holder.pages)], timeout=120)
    if keep is not None:
        keep.write_text(out.stdout)
    states = parse_pagemap(out.stdout)
    if len(states) != holder.pages:
        raise HarnessError(f"pagemap of {holder.pid}: {len(states)} pages read, {holder.pages} expected")
    return states


def swap_runs(states: list[PageState], first_index: int, nr: int = 16) -> int:
    """How many groups of `nr` pages can be swapped in as one folio of nr pages by do_swap_page
    (mm/memory.c can_swapin_thp, thp_swap_suitable_orders): aligned in the address space (the
    region's first page has page index `first_index`), all swapped, one swap type, consecutive
    offsets, the first offset a multiple of nr."""
    runs = 0
    for first in range((-first_index) % nr, len(states) - nr + 1, nr):
        group = states[first:first + nr]
        head = group[0]
        if head.swap_offset is None or head.swap_offset % nr:
            continue
        if all(s.swap_type == head.swap_type and s.swap_offset == head.swap_offset + i for i, s in enumerate(group)):
            runs += 1
    return runs
