"""harness.snapshot against a fake guest that answers like Linux 7.3 (hand-written dumps of one state)."""

import gzip
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness import snapshot, workloads
from harness.errors import HarnessError
from harness.parse import summarise

DATA = Path(__file__).resolve().parent.parent / "data" / "handwritten"
FULL = (DATA / "page_owner-7.3-mode-stack.txt").read_text()
HANDLES = (DATA / "page_owner-7.3-mode-handle.txt").read_text()
STACKS_HANDLES = (DATA / "show_stacks_handles.txt").read_text()
EARLY_HANDLE = 8912897


@dataclass
class Result:
    command: object
    stdout: str
    stderr: str
    status: int


class FakeGuest:
    """Answers the commands harness.snapshot and workloads.read_owner send."""

    def __init__(self, probe_status: int = 0, probe_stdout: str | None = None, stderr: str = ""):
        self.probe_status = probe_status
        self.probe_stdout = HANDLES.split("\n\n")[0] + "\n\n" if probe_stdout is None else probe_stdout
        self.stderr = stderr
        self.commands: list = []

    def run(self, command, timeout: float = 60):
        self.commands.append(command)
        if command[:3] == ["sh", "-c", snapshot.HANDLE_PROBE]:
            ok = self.probe_status == 0
            return Result(command, self.probe_stdout if ok else "", "" if ok else self.stderr, self.probe_status)
        assert command[0] == "dd", command  # read_owner's own probe
        return Result(command, "", "", 0)

    def stream(self, command, timeout: float = 60):
        self.commands.append(command)
        if command[:3] == ["sh", "-c", snapshot.HANDLE_READ]:
            text = HANDLES
        else:
            text = {snapshot.PAGE_OWNER: FULL, snapshot.STACKS_HANDLES: STACKS_HANDLES}[command[-1]]
        yield from text.split("\n")

    def stream_lines(self, path: str, timeout: float = 60):
        return self.stream(["cat", "--", path], timeout)


def without_early(by_stack: dict) -> dict:
    def early(key) -> bool:
        return key == EARLY_HANDLE or (isinstance(key, tuple) and key[0].startswith("register_early"))
    return {key: tally for key, tally in by_stack.items() if not early(key)}


def test_auto_reads_handles_and_joins_them(tmp_path):
    guest = FakeGuest()
    snap = snapshot.read_page_owner(guest, dump=tmp_path / "page_owner.txt.gz")
    full = summarise(FULL)
    assert snap.mode == "handle" and snap.fallback == ""
    assert [command[:3] for command in guest.commands] == [
        ["sh", "-c", snapshot.HANDLE_PROBE], ["sh", "-c", snapshot.HANDLE_READ], ["cat", "--", snapshot.STACKS_HANDLES]]
    for dimension in ("comm", "pid", "memcg", "gfp_flag", "swapped"):
        assert snap.summary.by[dimension] == full.by[dimension], dimension
    assert without_early(snap.summary.by["stack"]) == without_early(full.by["stack"])
    assert snap.join.missing == {EARLY_HANDLE: [1, 1]}
    # Both dumps are kept, and a kept handle-mode dump joins again from disk.
    assert snap.stacks_dump == tmp_path / "page_owner.show_stacks_handles.txt.gz"
    assert gzip.open(snap.dump, "rt").read().startswith(HANDLES.split("\n")[0])
    assert gzip.open(snap.stacks_dump, "rt").read().strip() == STACKS_HANDLES.strip()
    assert snapshot.summarise_dump(snap.dump).by == snap.summary.by


def test_text_mode_never_probes(tmp_path):
    guest = FakeGuest()
    snap = snapshot.read_page_owner(guest, "text", dimensions=("comm", "stack"))
    assert snap.mode == "text" and guest.commands == [["cat", "--", snapshot.PAGE_OWNER]]
    assert snap.summary.by["stack"] == summarise(FULL).by["stack"] and snap.dump is None


@pytest.mark.parametrize("status, stdout, reason", [
    (4, None, "the kernel rejects mode=handle (sh: 1: printf: I/O error)"),
    (6, None, "show_stacks_handles is not readable"),
    (0, FULL.split("\n\n")[0] + "\n\n", "has no handle line"),
])  # fmt: skip
def test_auto_falls_back_to_full_text(status, stdout, reason, tmp_path):
    guest = FakeGuest(status, stdout, stderr="sh: 1: printf: I/O error")
    snap = snapshot.read_page_owner(guest, dump=tmp_path / "po.txt.gz")
    assert snap.mode == "text" and reason in snap.fallback
    assert guest.commands[-1] == ["cat", "--", snapshot.PAGE_OWNER]
    assert snap.summary.by == summarise(FULL).by and snap.stacks_dump is None
    with pytest.raises(HarnessError, match="handle mode is not available"):
        snapshot.read_page_owner(guest, "handle")


@pytest.mark.parametrize("status, message", [(3, "does not exist"), (5, "cannot read"), (2, "cannot read")])
def test_unreadable_page_owner_is_an_error(status, message):
    with pytest.raises(HarnessError, match=message):
        snapshot.read_page_owner(FakeGuest(status, stderr="dd: error reading: Invalid argument"))


def test_unknown_mode():
    with pytest.raises(HarnessError, match="unknown page_owner read mode 'fast'"):
        snapshot.read_page_owner(FakeGuest(), "fast")


def test_stacks_dump_names():
    named = snapshot.stacks_dump_for(Path("r/page_owner-dd.txt.gz"))
    assert named == Path("r/page_owner-dd.show_stacks_handles.txt.gz")
    assert snapshot.stacks_dump_for(Path("dump")) == Path("dump.show_stacks_handles")


def test_read_owner_view_is_the_same_in_both_modes(tmp_path):
    fast = workloads.read_owner(FakeGuest(), workloads.PAGE_OWNER, tmp_path / "handle.txt.gz")
    slow = workloads.read_owner(FakeGuest(4), workloads.PAGE_OWNER, tmp_path / "text.txt.gz")
    assert (fast.available, fast.total_mib, fast.by_comm, fast.swapped_mib) == \
        (slow.available, slow.total_mib, slow.by_comm, slow.swapped_mib)  # fmt: skip
    assert fast.swapped_mib > 0
    for comm in ("dd", "cat", "Web Content"):
        assert workloads.stacks_of(fast.dump, comm) == workloads.stacks_of(slow.dump, comm), comm
