"""Fast page_owner snapshots: records with stack handles, frames once per stack.

Reading /sys/kernel/debug/page_owner makes the guest symbolise every frame of
every record (13-42 s under TCG for a 512 MiB guest). Linux 7.3 lets a reader
write `mode=handle` to its own open descriptor: records then end in
`handle: N` instead of frames, and page_owner_stacks/show_stacks_handles gives
the frames of each handle once. The records are tallied as they stream in,
by handle where a stack is wanted; show_stacks_handles is read after them (the
stack list only grows, so every handle the dump names is listed, but for the
exceptions in harness.results.parse.handles) and the tallies are re-keyed by stack on
the host. Measured on 7.3 after dd 256 MiB: 2.1 s against 8.1 s for full text
read the same way (18.7 s for a plain `cat` over SSH, parsed); the kernel's own
work alone differs by 4.6x. 3.7% of the pages (early_handle's 2382, and 497 on
stacks never listed) stay keyed by handle number (tests/data/real-7.3/README.md).

    snap = read_page_owner(shell, dump=out / "page_owner.txt.gz")
    snap.summary.mib("comm")["dd"]

Kept dumps are gzipped as they stream. A handle-mode dump is kept next to its
show_stacks_handles (`stacks_dump_for`); `summarise_dump` joins them again.
"""

from __future__ import annotations

import contextlib
import enum
import gzip
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from harness.errors import HarnessError
from harness.progress import Progress, Unit
from harness.results.parse import aggregate
from harness.results.parse.aggregate import DIMENSIONS, Summary
from harness.results.parse.detect import PAGE_OWNER as PAGE_OWNER_KIND, SWAP_PAGE_OWNER as SWAP_PAGE_OWNER_KIND
from harness.results.parse.dump import Record
from harness.results.parse.handles import JoinStats
from harness.results.parse.owner_stacks import load_handle_map
from harness.results.parse.textio import open_dump
from harness.run.debugfs import PAGE_OWNER, STACKS_HANDLES
from harness.run.guest_command import CommandFailed, GuestShell



class Mode(enum.StrEnum):
    """How page_owner is read. A str enum: the old string values still compare equal
    and are accepted by read_page_owner."""
    AUTO = "auto"  # handle mode if the kernel takes it, else full text
    TEXT = "text"  # full text, frames in every record
    HANDLE = "handle"  # records with stack handles, frames once per stack


MODES = tuple(Mode)
HANDLE, TEXT = Mode.HANDLE, Mode.TEXT

# page_owner and swap_page_owner return one record per read(), so `cat` into
# sshd's pipe wakes sshd once per record: under TCG that costs as much as the
# kernel's own work in handle mode. dd gathers the records into 1 MiB writes
# (ibs: a read must be large enough for a whole record; obs: what is written).
# Measured after dd 256 MiB: handle mode 4.4 s -> 1.7 s in the guest. The guest
# image links dd as mmharness-read, so the reader's pages never count as dd's.
# Reads are streamed gzipped (Shell.stream(compressed=True)): SSH out of a TCG
# guest carries 7-10 MB/s, and 55 MB of full text compress to 0.6 MB.
READER = "/usr/local/bin/mmharness-read"
BUFFERED = (READER, "ibs=64k", "obs=1M", "status=none")


def buffered_read(path: str) -> list[str]:
    """The guest command that reads a one-record-per-read() debugfs file in large writes."""
    return [*BUFFERED, f"if={path}"]


# One guest command per snapshot: under TCG every SSH command costs a fork and
# exec chain in the guest, so the probe, the records and the stacks share one.
# The print mode belongs to the open file, so the descriptor written to is the
# one read from. The first line says what follows (MARK + "handle": records
# with handles, then STACKS_MARK and show_stacks_handles; MARK + "text WHY":
# full text; MARK + "error WHY": nothing). No record line starts with "#".
# $1: page_owner, $2: show_stacks_handles, $3: "auto" (text if need be) or "handle".
MARK = "#mmharness "
STACKS_MARK = MARK + "show_stacks_handles"
READ = r"""
test -e "$1" || { echo "#mmharness error no-file"; exit 0; }
exec 3<>"$1" || { echo "#mmharness error no-open"; exit 0; }
if ! test -r "$2"; then why=no-stacks
elif printf mode=handle >&3 2>/dev/null; then
    echo "#mmharness handle"
    BUFFERED <&3 || exit 5
    echo "#mmharness show_stacks_handles"
    exec cat -- "$2"
else why=rejected
fi
test "$3" = auto || { echo "#mmharness error $why"; exit 0; }
echo "#mmharness text $why"
exec BUFFERED <&3
""".replace("BUFFERED", " ".join(BUFFERED))


@dataclass
class OwnerSnapshot:
    """page_owner tallied in one pass, and how it was read."""

    mode: Mode  # what was read: Mode.HANDLE or Mode.TEXT
    summary: Summary
    seconds: float  # guest read, SSH, parse and join
    dump: Path | None = None  # the kept page_owner dump (gzip)
    stacks_dump: Path | None = None  # handle mode: the kept show_stacks_handles (gzip)
    join: JoinStats = field(default_factory=JoinStats)  # handle mode, "stack" dimension
    fallback: str = ""  # why mode "auto" read full text


def stacks_dump_for(dump: Path) -> Path:
    """Where the show_stacks_handles of a kept handle-mode dump goes: x.txt.gz -> x.show_stacks_handles.txt.gz."""
    dump = Path(dump)
    base, dot_txt, rest = dump.name.partition(".txt")
    return dump.with_name(f"{base}.show_stacks_handles{dot_txt}{rest}")


def keep(lines: Iterable[str], path: Path | None) -> Iterator[str]:
    """Pass lines (without newlines) through, keeping them gzipped in `path` if given."""
    if path is None:
        yield from lines
        return
    with gzip.open(path, "wt", compresslevel=1) as kept:
        for line in lines:
            kept.write(line)
            kept.write("\n")
            yield line


def counted(lines: Iterator[str], what: str) -> Iterator[str]:
    """Pass lines through, showing the bytes read so far (no total: a dump's size depends on
    the workload); closing this closes `lines`."""
    with contextlib.closing(lines), Progress(what, Unit.BYTES) as progress:
        pending = 0
        for number, line in enumerate(lines):
            pending += len(line) + 1
            if number % 1024 == 0:  # a dump has a million lines: look at the clock less often
                progress.advance(pending)
                pending = 0
            yield line
        progress.done += pending


def until(lines: Iterator[str], marker: str) -> Iterator[str]:
    """The lines before `marker`; the marker is consumed, the rest stays in `lines`."""
    for line in lines:
        if line == marker:
            return
        yield line


def _why(code: str, path: str, stacks: str) -> str:
    return {"rejected": "the kernel rejects mode=handle (the write to the descriptor failed)",
            "no-stacks": f"{stacks} is not readable"}.get(code, f"{path}: {code}")


def read_page_owner(
    shell: GuestShell,
    mode: Mode | str = Mode.AUTO,
    *,
    dump: Path | None = None,
    dimensions: Sequence[str] = DIMENSIONS,
    where: Callable[[Record], bool] | None = None,
    path: str = PAGE_OWNER,
    stacks: str = STACKS_HANDLES,
    timeout: float = 120.0,
) -> OwnerSnapshot:
    """Tally the guest's page_owner (or swap_page_owner: `path`) by `dimensions`, in handle mode when it can.

    mode "auto": handle mode if the kernel takes it, else full text; "handle":
    handle mode or HarnessError; "text": full text. `timeout` bounds each wait
    for data. Handle mode keys the "stack" dimension by frames, except for
    handles show_stacks_handles does not list (early_handle, stacks first used
    by an allocation that could not spin): by number, counted in `join`.
    """
    try:
        mode = Mode(mode)
    except ValueError:
        raise HarnessError(f"unknown page_owner read mode {mode!r}", hint=f"use one of {', '.join(MODES)}") from None
    started = time.monotonic()
    dump_kind = SWAP_PAGE_OWNER_KIND if path.rsplit("/", 1)[-1] == "swap_page_owner" else PAGE_OWNER_KIND

    def tally(lines: Iterable[str]) -> Summary:
        return aggregate.summarise(keep(lines, dump), kind=dump_kind, dimensions=dimensions, where=where,
                                   source=path)

    if mode == TEXT:
        with contextlib.closing(counted(shell.stream(buffered_read(path), timeout=timeout, compressed=True),
                                        f"reading {path}")) as lines:
            summary = tally(lines)
        return OwnerSnapshot(TEXT, summary, time.monotonic() - started, dump)
    with contextlib.closing(counted(shell.stream(["sh", "-c", READ, "page_owner", path, stacks, mode.value],
                                                 timeout=timeout, compressed=True), f"reading {path}")) as lines:
        try:
            first = next(lines, "")
            if not first.startswith(MARK):
                raise HarnessError(f"reading {path} in the guest: unexpected first line {first[:200]!r}")
            kind, _, code = first[len(MARK):].partition(" ")
            if kind == "error" and code == "no-file":
                raise HarnessError(f"{path} does not exist in the guest",
                                   hint="boot a kernel with CONFIG_PAGE_OWNER=y and page_owner=on (debugfs mounted)")
            if kind == "error":
                raise HarnessError(f"page_owner handle mode is not available: {_why(code, path, stacks)}",
                                   hint="read full text (mode='text'), or boot Linux 7.3 or later")
            if kind == TEXT:
                summary = tally(lines)
                return OwnerSnapshot(TEXT, summary, time.monotonic() - started, dump,
                                     fallback=_why(code, path, stacks))
            summary = tally(until(lines, STACKS_MARK))
            stacks_dump = stacks_dump_for(dump) if dump is not None else None
            handles = load_handle_map(keep(lines, stacks_dump), source=stacks)
        except CommandFailed as error:
            raise HarnessError(f"cannot read {path} in the guest: {error.message}",
                               hint="is page_owner=on on the kernel command line?",
                               artifacts=error.artifacts) from None
    join = aggregate.join_summary(summary, handles)
    return OwnerSnapshot(HANDLE, summary, time.monotonic() - started, dump, stacks_dump, join)


def summarise_dump(
    dump: Path | str,
    *,
    dimensions: Sequence[str] = DIMENSIONS,
    where: Callable[[Record], bool] | None = None,
) -> Summary:
    """Summarise a kept dump; a handle-mode dump is joined with the show_stacks_handles kept beside it."""
    companion = stacks_dump_for(Path(dump))
    handles = None
    if companion.is_file():
        with open_dump(companion) as lines:
            handles = load_handle_map(lines, source=str(companion))
    with open_dump(dump) as lines:
        return aggregate.summarise(lines, dimensions=dimensions, where=where, handles=handles, source=str(dump))
