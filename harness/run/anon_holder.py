"""A guest process holding anonymous memory: perl keeps MIB MiB in one string.

perl repeats the string in place from a run-time size (a constant `"\\x01" x N`
would be folded into a second copy that lives in the op tree). SIGUSR1 reads
all of it back: read faults, so swapped-in folios stay in the swap cache.
"""

from harness.run.guest_command import GuestShell

PROGRAM = r"""
my $x = "\x01";
$x x= $ARGV[0] * 1048576;
$SIG{USR1} = sub { my $n = ($x =~ tr/\x01//); open(my $f, ">", "/tmp/anon-touched"); print $f $n; close $f };
open(my $r, ">", "/tmp/anon-ready"); print $r $$; close $r;
sleep 1 while 1;
"""


def start(shell: GuestShell, mib: int, timeout: float = 600.0) -> int:
    """Start the holder in the background; its pid once its memory is filled."""
    shell.check(["sh", "-c", "rm -f /tmp/anon-ready /tmp/anon-touched; perl -e \"$1\" \"$2\" > /dev/null 2>&1 & "
                 "while [ ! -s /tmp/anon-ready ]; do sleep 1; done", "holder", PROGRAM, str(mib)], timeout=timeout)
    return int(shell.check(["cat", "/tmp/anon-ready"]).stdout)


def read_back(shell: GuestShell, pid: int, timeout: float = 600.0) -> None:
    """Make the holder read all of its memory (read faults), and wait until it has."""
    shell.check(["sh", "-c", "kill -USR1 \"$1\"; while [ ! -e /tmp/anon-touched ]; do sleep 1; done", "touch",
                 str(pid)], timeout=timeout)
