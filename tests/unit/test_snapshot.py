"""harness.run.snapshot against a fake guest that answers like Linux 7.3 (hand-written dumps of one state)."""

import gzip
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.results.parse import summarise
from harness.run import snapshot, workloads
from harness.run.guest_command import CommandFailed

DATA = Path(__file__).resolve().parent.parent / "data" / "handwritten"
FULL = (DATA / "page_owner-7.3-mode-stack.txt").read_text()
HANDLES = (DATA / "page_owner-7.3-mode-handle.txt").read_text()
STACKS_HANDLES = (DATA / "show_stacks_handles.txt").read_text()
EARLY_HANDLE = 8912897


class FakeGuest:
    """Answers like a guest running snapshot.READ (and read_owner's probe) on Linux 7.3.

    `kernel`: "7.3" (takes mode=handle), "old" (rejects the write), "no-stacks"
    (no show_stacks_handles), "absent" (no page_owner file), "disabled" (reads fail).
    """

    def __init__(self, kernel: str = "7.3"):
        self.kernel = kernel
        self.commands: list = []

    def run(self, command, timeout: float = 60):
        self.commands.append(command)
        assert command[0] == snapshot.READER, command  # read_owner's own probe
        return Result(command, "", "", 0)

    def stream(self, command, timeout: float = 60, *, compressed: bool = False):
        assert compressed, "debugfs reads are streamed gzipped"
        self.commands.append(command)
        if command[:3] == ["sh", "-c", snapshot.READ]:
            yield from self._read(command[-1])
            return
        if command[:2] == ["cat", "--"]:
            yield from self._text(command[-1])
            return
        assert command[:-1] == list(snapshot.BUFFERED) and command[-1].startswith("if="), command
        yield from self._text(command[-1][3:])

    def _text(self, path):
        if self.kernel == "disabled":
            raise CommandFailed("guest command failed (status 1): cat -- x\n    stderr: cat: x: Invalid argument", 1)
        yield from {snapshot.PAGE_OWNER: FULL, snapshot.STACKS_HANDLES: STACKS_HANDLES}[path].split("\n")

    def _read(self, mode):
        if self.kernel == "absent":
            yield snapshot.MARK + "error no-file"
            return
        why = {"old": "rejected", "no-stacks": "no-stacks"}.get(self.kernel)
        if why is None:
            yield snapshot.MARK + "handle"
            if self.kernel == "disabled":
                raise CommandFailed("guest command failed (status 5): sh -c ...\n    stderr: cat: -: Invalid argument", 5)
            yield from HANDLES.split("\n")
            yield snapshot.STACKS_MARK
            yield from self._text(snapshot.STACKS_HANDLES)
            return
        yield snapshot.MARK + (f"error {why}" if mode == "handle" else f"text {why}")
        if mode != "handle":
            yield from self._text(snapshot.PAGE_OWNER)

    def stream_lines(self, path: str, timeout: float = 60):
        return self.stream(["cat", "--", path], timeout, compressed=True)


@dataclass
class Result:
    command: object
    stdout: str
    stderr: str
    status: int


def without_early(by_stack: dict) -> dict:
    def early(key) -> bool:
        return key == EARLY_HANDLE or (isinstance(key, tuple) and key[0].startswith("register_early"))
    return {key: tally for key, tally in by_stack.items() if not early(key)}


def test_auto_reads_handles_and_joins_them(tmp_path):
    guest = FakeGuest()
    snap = snapshot.read_page_owner(guest, dump=tmp_path / "page_owner.txt.gz")
    full = summarise(FULL)
    assert snap.mode == "handle" and snap.fallback == ""
    assert guest.commands == [["sh", "-c", snapshot.READ, "page_owner", snapshot.PAGE_OWNER,
                               snapshot.STACKS_HANDLES, "auto"]], "one guest command per snapshot"
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
    assert snap.mode == "text" and guest.commands == [snapshot.buffered_read(snapshot.PAGE_OWNER)]
    assert snap.summary.by["stack"] == summarise(FULL).by["stack"] and snap.dump is None


@pytest.mark.parametrize("kernel, reason", [
    ("old", "the kernel rejects mode=handle"),
    ("no-stacks", "show_stacks_handles is not readable"),
])
def test_auto_falls_back_to_full_text(kernel, reason, tmp_path):
    guest = FakeGuest(kernel)
    snap = snapshot.read_page_owner(guest, dump=tmp_path / "po.txt.gz")
    assert snap.mode == "text" and reason in snap.fallback
    assert len(guest.commands) == 1, "the fallback reads the same descriptor in the same command"
    assert snap.summary.by == summarise(FULL).by and snap.stacks_dump is None
    with pytest.raises(HarnessError, match=f"handle mode is not available: .*{reason}"):
        snapshot.read_page_owner(guest, "handle")


@pytest.mark.parametrize("kernel, message", [("absent", "does not exist"), ("disabled", "cannot read .*page_owner=on")])
@pytest.mark.parametrize("mode", ["auto", "handle"])
def test_unreadable_page_owner_is_an_error(kernel, message, mode):
    with pytest.raises(HarnessError, match=f"(?s){message}"):
        snapshot.read_page_owner(FakeGuest(kernel), mode)


def test_until_leaves_the_rest():
    lines = iter(["a", "b", "#m", "c"])
    assert list(snapshot.until(lines, "#m")) == ["a", "b"] and list(lines) == ["c"]


def test_unknown_mode():
    with pytest.raises(HarnessError, match="unknown page_owner read mode 'fast'"):
        snapshot.read_page_owner(FakeGuest(), "fast")


def test_stacks_dump_names():
    named = snapshot.stacks_dump_for(Path("r/page_owner-dd.txt.gz"))
    assert named == Path("r/page_owner-dd.show_stacks_handles.txt.gz")
    assert snapshot.stacks_dump_for(Path("dump")) == Path("dump.show_stacks_handles")


def test_read_owner_view_is_the_same_in_both_modes(tmp_path):
    fast = workloads.read_owner(FakeGuest(), workloads.PAGE_OWNER, tmp_path / "handle.txt.gz")
    slow = workloads.read_owner(FakeGuest("old"), workloads.PAGE_OWNER, tmp_path / "text.txt.gz")
    assert (fast.available, fast.total_mib, fast.by_comm, fast.swapped_mib) == \
        (slow.available, slow.total_mib, slow.by_comm, slow.swapped_mib)  # fmt: skip
    assert fast.swapped_mib > 0
    for comm in ("dd", "cat", "Web Content"):
        assert workloads.stacks_of(fast.dump, comm) == workloads.stacks_of(slow.dump, comm), comm


def test_modes_are_an_enum_that_still_takes_strings():
    assert snapshot.Mode("handle") is snapshot.Mode.HANDLE and snapshot.Mode.TEXT == "text"
    with pytest.raises(HarnessError, match="unknown page_owner read mode 'fast'"):
        snapshot.read_page_owner(FakeGuest("7.3"), "fast")
