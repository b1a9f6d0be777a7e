"""harness.run.workloads helpers against recorded guest/host output (no VM)."""

from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.run import workloads

HOST = Path(__file__).resolve().parent.parent / "data" / "host-6.18"


@dataclass
class Result:
    stdout: str
    status: int = 0


class Recorded:
    """A guest shell whose `check` answers from recorded files."""

    def __init__(self, answers: dict[str, str]):
        self.answers = answers
        self.commands: list = []

    def check(self, command, timeout: float = 60):
        self.commands.append(command)
        return Result(self.answers[command[-1]])


def test_shm_resident_reads_the_rss_column():
    shell = Recorded({"/proc/sysvipc/shm": (HOST / "proc-sysvipc-shm.txt").read_text()})
    assert workloads.shm_resident_mib(shell, 0) == 1.0
    with pytest.raises(HarnessError, match="segment 7 is not in /proc/sysvipc/shm"):
        workloads.shm_resident_mib(shell, 7)


def test_anon_resident_reads_rss_anon():
    status = "Name:\tperl\nVmRSS:\t  263168 kB\nRssAnon:\t  262144 kB\nRssFile:\t    1024 kB\n"
    assert workloads.anon_resident_mib(Recorded({"/proc/42/status": status}), 42) == 256.0
    with pytest.raises(HarnessError, match="no RssAnon"):
        workloads.anon_resident_mib(Recorded({"/proc/42/status": "Name:\tkthreadd\n"}), 42)


def test_push_out_stops_when_the_workload_is_out_or_room_is_used_up():
    left = iter([256.0, 200.0, 60.0, 4.0])
    shell = Recorded({})
    shell.check = lambda command, timeout=60: shell.commands.append(command) or Result("")
    written = workloads.push_out(shell, workloads.RoundTripConfig(), room_mib=400, resident=lambda: next(left))
    chunks = [int(arg.split("=")[1]) for command in shell.commands for arg in command if arg.startswith("count=")]
    assert chunks == [32, 32, 27] and written == sum(chunks)  # half the way to 2% resident, at most 32
    shell.commands.clear()
    # The last step takes what room is left (20 MiB - the 12 MiB reserve), then it stops: a
    # 2-vCPU ghost swap run stopped 11 MiB short of its room, with a chunk that did not fit.
    assert workloads.push_out(shell, workloads.RoundTripConfig(), room_mib=20, resident=lambda: 256.0) == 8
    shell.commands.clear()
    assert workloads.push_out(shell, workloads.RoundTripConfig(), room_mib=12, resident=lambda: 256.0) == 0
    assert shell.commands == []


def test_fill_file_names_an_unknown_data_source():
    with pytest.raises(HarnessError, match="unknown round-trip data source 'random'"):
        workloads.fill_file(Recorded({}), workloads.RoundTripConfig(data="random"))


def test_side_by_side_table():
    from harness.results.tables import side_by_side

    text = side_by_side([("MiB", lambda c: c["mib"]), ("state", lambda c: c["state"])],
                        {"on": {"mib": 1.25, "state": "EINVAL"}, "on,swap": {"mib": 3.0, "state": 7}}, cell_width=8)
    assert text.splitlines() == ["      |       on |  on,swap", "-" * 27,
                                 "MiB   |      1.2 |      3.0", "state |   EINVAL |        7"]
