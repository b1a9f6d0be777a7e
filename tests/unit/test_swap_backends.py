"""swap_backends on recorded guest output (tests/data/real-7.3/ghost, see its README)."""

from pathlib import Path

from harness.run import swap_backends as backends
from harness.run.guest_command import CommandResult

DATA = Path(__file__).parent.parent / "data" / "real-7.3" / "ghost"


class RecordedShell:
    """Answers every command with one recorded stdout; keeps what it was asked."""

    def __init__(self, stdout: str):
        self.stdout, self.commands = stdout, []

    def check(self, command, timeout=60.0):
        self.commands.append(command)
        return CommandResult(" ".join(command), self.stdout, "", 0, 0.0)


def test_static_cost_of_a_disk_is_its_cluster_array():
    shell = RecordedShell((DATA / "static-cost-brd.txt").read_text())
    disk = backends.Backend("brd", "/dev/ram0", zswap=True, setup='swapon "$1"')
    assert backends.static_cost_kib(shell, disk, repeats=5) == [512] * 5
    script = shell.commands[-1]
    assert script[-2:] == ["/dev/ram0", "0"] and "seq 5" in script[2]


def test_static_cost_of_ghost_swap_is_noise():
    shell = RecordedShell((DATA / "static-cost-ghost.txt").read_text())
    costs = backends.static_cost_kib(shell, backends.BACKENDS["ghost"], repeats=5)
    assert len(costs) == 5 and sorted(costs)[2] == 0
