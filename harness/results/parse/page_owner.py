"""Streaming parser for /sys/kernel/debug/page_owner (Linux 7.3, mm/page_owner.c).

print_page_owner() writes one record per allocated head page, ending in a
blank line:

    Page allocated via order %u, mask %#x(%pGg), pid %d, tgid %d (%s), ts %llu ns[ (swapped)]
    [SLAB_PAGE ... | FILE_PAGE ... | ANON_PAGE ...]       (owner RFC, seed 001)
    PFN 0x%lx type %s Block %lu type %s Flags %pGp
     frame                     (mode=stack and mode=stack_handle; one per line)
    handle: %u                 (mode=handle and mode=stack_handle)
    Page has been migrated, last migrate reason: %s
    Slab cache page | Charged [(via objcg) ]to [offline ]memcg NAME

` (swapped)` is added by the project's page-owner-swap series. Older headers
(no pid; `pid, ts, free_ts`; `pid, tgid (comm), ts, free_ts`) are accepted.
The comm may hold spaces and parentheses: it is the text between the `(`
after `tgid N ` and the last `), ts ` of the line.
"""

from __future__ import annotations

import re
from typing import Callable, Iterator, TypeVar

from harness.results.parse.issues import OnIssue, Reporter
from harness.results.parse.lines import LineSource, iter_record_texts
from harness.results.parse.records import AnonOwner, FileOwner, Memcg, Owner, PageOwnerRecord, SlabOwner
from harness.results.parse.stacks import StackInterner, normalise_frame

HEADER = "Page allocated via order "
SWAPPED = " (swapped)"
HANDLE = "handle: "
MIGRATED = "Page has been migrated, last migrate reason: "
SLAB_CACHE = "Slab cache page"
CHARGED = "Charged "
OWNER_PREFIXES = ("SLAB_PAGE ", "FILE_PAGE ", "ANON_PAGE ")
# Lines that follow the frames (and the owner lines, wherever they are).
TRAILERS = (HANDLE, MIGRATED, SLAB_CACHE, CHARGED) + OWNER_PREFIXES

MAX_ORDER = 63

_OLD_HEADER = re.compile(
    r"Page allocated via order (\d+), mask (0x[0-9a-fA-F]+|\d+)\(([^)]*)\)"
    r"(?:, pid (-?\d+)(?:, tgid (-?\d+) \((.*)\))?, ts (\d+) ns(?:, free_ts \d+ ns)?)?"
    r"( \(swapped\))?"
)
_FILE_OWNER = re.compile(
    r"FILE_PAGE dev (\d+):(\d+) ino:(\d+) index:(0x[0-9a-fA-F]+|\d+) mapcount:(-?\d+) refcount:(-?\d+)"
    r"(?: (0x[0-9a-fA-F]+) - (0x[0-9a-fA-F]+))?"
)


class BadRecord(ValueError):
    """Internal: `offset` is the index of the offending line in its block."""

    def __init__(self, offset: int, message: str):
        super().__init__(message)
        self.offset = offset
        self.message = message


Header = tuple[int, int, str, int | None, int | None, str | None, int | None, bool]


def parse_header(line: str) -> Header:
    """(order, gfp_mask, gfp_flags, pid, tgid, comm, ts_nsec, swapped) of a first line."""
    left, sep, tail = line.rpartition("), ts ")
    if sep:
        head = _parse_left(left)
        ts = _parse_ts(tail)
        if head is not None and ts is not None:
            return (*head, *ts)  # type: ignore[return-value]
    match = _OLD_HEADER.fullmatch(line)
    if match is None:
        raise BadRecord(0, "malformed 'Page allocated via order' line")
    order_s, mask_s, gfp_flags, pid_s, tgid_s, comm, ts_s, swapped = match.groups()
    order = int(order_s)
    if order > MAX_ORDER:
        raise BadRecord(0, f"order {order} out of range")
    return (
        order,
        int(mask_s, 16) if mask_s.startswith("0x") else int(mask_s),
        gfp_flags,
        int(pid_s) if pid_s is not None else None,
        int(tgid_s) if tgid_s is not None else None,
        comm,
        int(ts_s) if ts_s is not None else None,
        swapped is not None,
    )


def _parse_left(left: str) -> tuple | None:
    """(order, mask, gfp_flags, pid, tgid, comm) of a 7.3 header up to the comm's end, or None."""
    order_s, sep1, rest = left[len(HEADER) :].partition(", mask ")
    mask_s, sep2, rest = rest.partition("(")
    gfp_flags, sep3, rest = rest.partition("), pid ")
    pid_s, sep4, rest = rest.partition(", tgid ")
    tgid_s, sep5, comm = rest.partition(" (")
    if not (sep1 and sep2 and sep3 and sep4 and sep5 and order_s.isdecimal() and mask_s.startswith("0x")):
        return None
    try:
        order = int(order_s)
        return (order, int(mask_s, 16), gfp_flags, int(pid_s), int(tgid_s), comm) if order <= MAX_ORDER else None
    except ValueError:
        return None


def _parse_ts(tail: str) -> tuple[int, bool] | None:
    """(ts_nsec, swapped) of `%llu ns[ (swapped)]`, or None."""
    if tail.endswith(" ns"):
        digits, swapped = tail[:-3], False
    elif tail.endswith(" ns" + SWAPPED):
        digits, swapped = tail[: -3 - len(SWAPPED)], True
    else:
        return None
    return (int(digits), swapped) if digits.isdecimal() else None


Pfn = tuple[int, str | None, int | None, str | None, str | None]


def parse_pfn(line: str, offset: int = 1) -> Pfn:
    """(pfn, page migratetype, pageblock, pageblock migratetype, raw flags) of a PFN line."""
    try:
        _, pfn_s, type1, page_mt, block_word, block_s, type2, block_mt, flags_word, flags = line.split(" ")
    except ValueError:
        return _parse_pfn_pairs(line, offset)
    if type1 != "type" or block_word != "Block" or type2 != "type" or flags_word != "Flags":
        return _parse_pfn_pairs(line, offset)
    try:
        pfn = int(pfn_s, 16) if pfn_s.startswith("0x") else int(pfn_s)
        return pfn, page_mt, int(block_s), block_mt, flags
    except ValueError:
        raise BadRecord(offset, "malformed PFN line") from None


def _parse_pfn_pairs(line: str, offset: int) -> Pfn:
    # Other layouts (older kernels): walk `key value` pairs after `PFN n`.
    parts = line.split()
    try:
        if parts[0] != "PFN":
            raise ValueError
        pfn = int(parts[1], 0)
        types: list[str | None] = []
        block = flags = None
        for key, value in zip(parts[2::2], parts[3::2]):
            if key == "type":
                types.append(value)
            elif key == "Block":
                block = int(value)
            elif key == "Flags":
                flags = value
    except (ValueError, IndexError):
        raise BadRecord(offset, "malformed PFN line") from None
    types += [None, None]
    return pfn, types[0], block, types[1], flags


def parse_memcg(line: str) -> Memcg | None:
    """`Charged [(via objcg) ]to [offline ]memcg NAME`, or None if malformed."""
    rest = line[len(CHARGED) :]
    via = rest.startswith("(via objcg) ")
    if via:
        rest = rest[12:]
    if not rest.startswith("to "):
        return None
    rest = rest[3:]
    offline = rest.startswith("offline ")
    if offline:
        rest = rest[8:]
    if not rest.startswith("memcg "):
        return None
    return Memcg(rest[6:], via, offline)


def parse_owner(line: str) -> Owner | None:
    """A seed-001 owner line, or None if malformed."""
    if line.startswith("SLAB_PAGE slab_name:"):
        name = line[len("SLAB_PAGE slab_name:") :]
        return SlabOwner(name) if name else None
    if line.startswith("ANON_PAGE address "):
        try:
            return AnonOwner(int(line[len("ANON_PAGE address ") :], 16))
        except ValueError:
            return None
    match = _FILE_OWNER.fullmatch(line)
    if match is None:
        return None
    major, minor, ino, index, mapcount, refcount, start, end = match.groups()
    return FileOwner(
        int(major),
        int(minor),
        int(ino),
        int(index, 0),
        int(mapcount),
        int(refcount),
        int(start, 16) if start else None,
        int(end, 16) if end else None,
    )


# Cache of header prefixes (up to the comm): bounded by distinct (order, gfp, pid, tgid, comm).
_HEAD_CACHE_MAX = 1 << 16


class PageOwnerParser:
    """Parses one record text at a time; shares interned stacks, memcgs and headers across records."""

    __slots__ = ("interner", "_memcgs", "_heads")

    def __init__(self, interner: StackInterner | None = None):
        self.interner = interner if interner is not None else StackInterner()
        self._memcgs: dict[str, Memcg | None] = {}
        self._heads: dict[str, tuple] = {}

    def header(self, line: str) -> Header:
        """parse_header(), with the part before the timestamp looked up in a cache."""
        left, sep, tail = line.rpartition("), ts ")
        if sep:
            head = self._heads.get(left)
            if head is None:
                head = _parse_left(left)
                if head is not None:
                    if len(self._heads) >= _HEAD_CACHE_MAX:
                        self._heads.clear()
                    self._heads[left] = head
            ts = _parse_ts(tail)
            if head is not None and ts is not None:
                return (*head, *ts)  # type: ignore[return-value]
        return parse_header(line)

    def parse(self, rec: str, lineno: int = 1) -> PageOwnerRecord:
        """One record from its text (lines joined by "\\n"); raises BadRecord."""
        n = len(rec)
        nl = rec.find("\n")
        if nl < 0:
            nl = n
        header = rec[:nl]
        if not header.startswith(HEADER):
            raise BadRecord(0, "expected a 'Page allocated via order' line")
        # Fast path (inlined self.header()): the part before the timestamp is cached.
        left, sep, tail = header.rpartition("), ts ")
        head = self._heads.get(left) if sep else None
        if head is not None and tail.endswith(" ns") and tail[:-3].isdecimal():
            order, mask, gfp_flags, pid, tgid, comm = head
            ts = int(tail[:-3])
            swapped = False
        else:
            order, mask, gfp_flags, pid, tgid, comm, ts, swapped = self.header(header)

        owner = None
        pos = nl + 1
        if rec.startswith("PFN ", pos):
            end = rec.find("\n", pos)
            if end < 0:
                end = n
            parts = rec[pos:end].split(" ")
            # Fast path (inlined parse_pfn()): the 7.3 layout with a hex PFN.
            if (
                len(parts) == 10
                and parts[2] == "type"
                and parts[4] == "Block"
                and parts[6] == "type"
                and parts[8] == "Flags"
                and parts[1].startswith("0x")
                and parts[5].isdecimal()
            ):
                try:
                    pfn = int(parts[1], 16)
                except ValueError:
                    raise BadRecord(1, "malformed PFN line") from None
                page_mt = parts[3]
                block = int(parts[5])
                block_mt = parts[7]
                flags = parts[9]
            else:
                try:
                    pfn, page_mt, block, block_mt, flags = parse_pfn(rec[pos:end])
                except BadRecord:
                    raise BadRecord(1, "malformed PFN line") from None
            pos = end + 1
        else:
            while True:
                if pos >= n:
                    raise BadRecord(_index(rec, n), "expected a 'PFN' line")
                end = rec.find("\n", pos)
                if end < 0:
                    end = n
                if rec.startswith("PFN ", pos):
                    try:
                        pfn, page_mt, block, block_mt, flags = parse_pfn(rec[pos:end])
                    except BadRecord:
                        raise BadRecord(_index(rec, pos), "malformed PFN line") from None
                    pos = end + 1
                    break
                if rec.startswith(OWNER_PREFIXES, pos):
                    owner = self._owner(rec[pos:end], rec, pos)
                    pos = end + 1
                    continue
                raise BadRecord(_index(rec, pos), "expected a 'PFN' line")

        # The trailers are the last lines: scan back to where the frames end.
        # A line that is neither (from a newer kernel?) is kept in `extra`.
        end = n
        trailers = []
        unknown = []
        while end > pos:
            start = rec.rfind("\n", pos, end) + 1
            if start < pos:
                start = pos
            if rec.startswith(TRAILERS, start):
                trailers.append(start)
            elif rec.startswith(" ", start) or normalise_frame(rec[start:end]) is not None:
                break
            else:
                unknown.append(rec[start:end].strip())
            end = start - 1

        stack = None
        extra: tuple[str, ...] = ()
        if end > pos:
            stack, extra, bad = self.interner.resolve(rec[pos:end])
            if bad >= 0:
                raise BadRecord(_index(rec, pos) + bad, "expected a stack frame")
        if unknown:
            extra += tuple(reversed(unknown))

        handle = migrate_reason = memcg = None
        slab_cache = False
        for start in reversed(trailers):
            end = rec.find("\n", start)
            line = rec[start:] if end < 0 else rec[start:end]
            if line.startswith(HANDLE):
                try:
                    handle = int(line[len(HANDLE) :]) & 0xFFFFFFFF
                except ValueError:
                    raise BadRecord(_index(rec, start), "malformed handle line") from None
            elif line.startswith(CHARGED):
                memcg = self._memcgs.get(line, False)
                if memcg is False:
                    memcg = parse_memcg(line)
                    if len(self._memcgs) < _HEAD_CACHE_MAX:
                        self._memcgs[line] = memcg
                if memcg is None:
                    raise BadRecord(_index(rec, start), "malformed memcg line")
            elif line.startswith(MIGRATED):
                migrate_reason = line[len(MIGRATED) :]
            elif line.startswith(SLAB_CACHE):
                if line != SLAB_CACHE:
                    raise BadRecord(_index(rec, start), "malformed 'Slab cache page' line")
                slab_cache = True
            else:
                owner = self._owner(line, rec, start)

        if handle is None:
            if stack is None:
                stack = ()
        elif not stack:
            stack = None  # mode=handle: frames come from show_stacks_handles
        return PageOwnerRecord(
            order, mask, gfp_flags, pid, tgid, comm, ts, swapped,
            pfn, page_mt, block, block_mt, flags,
            stack, handle, migrate_reason, memcg, slab_cache, owner, lineno, extra,
        )  # fmt: skip

    @staticmethod
    def _owner(line: str, rec: str, pos: int) -> Owner:
        owner = parse_owner(line)
        if owner is None:
            raise BadRecord(_index(rec, pos), "malformed owner line")
        return owner


def _index(rec: str, pos: int) -> int:
    """Index of the line holding rec[pos] (errors only)."""
    return rec.count("\n", 0, pos)


def iter_page_owner(
    lines: LineSource,
    *,
    strict: bool = False,
    on_issue: OnIssue | None = None,
    interner: StackInterner | None = None,
    source: str = "",
) -> Iterator[PageOwnerRecord]:
    """Records of a page_owner dump, streamed from a file, stream, text or any line iterator.

    A malformed record is reported (`on_issue`, else the `harness.results.parse` logger)
    with the number of its offending line and skipped; with `strict` it raises
    ParseError instead.
    """
    yield from parse_records(lines, PageOwnerParser(interner).parse, Reporter(strict, on_issue, source))


T = TypeVar("T")


def parse_records(lines: LineSource, parse: Callable[[str, int], T], report: Reporter) -> Iterator[T]:
    """Each record of `lines` parsed; a malformed one reported (report_bad) and skipped."""
    for lineno, rec in iter_record_texts(lines):
        try:
            yield parse(rec, lineno)
        except BadRecord as bad:
            report_bad(report, lineno, rec, bad)


def report_bad(report: Reporter, lineno: int, rec: str, bad: BadRecord) -> None:
    lines = rec.split("\n")
    offset = min(max(bad.offset, 0), len(lines) - 1)
    report(lineno + offset, bad.message, lines[offset])
