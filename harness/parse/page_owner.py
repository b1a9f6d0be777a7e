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
from typing import Iterator

from harness.parse.issues import OnIssue, Reporter
from harness.parse.lines import LineSource, iter_blocks
from harness.parse.records import AnonOwner, FileOwner, Memcg, Owner, PageOwnerRecord, SlabOwner
from harness.parse.stacks import StackInterner

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
    # Fast path: exactly the 7.3 format, with str.partition only.
    rest = line[len(HEADER) :]
    order_s, sep1, rest = rest.partition(", mask ")
    mask_s, sep2, rest = rest.partition("(")
    gfp_flags, sep3, rest = rest.partition("), pid ")
    pid_s, sep4, rest = rest.partition(", tgid ")
    tgid_s, sep5, rest = rest.partition(" (")
    comm, sep6, rest = rest.rpartition("), ts ")
    ts_s, sep7, tail = rest.partition(" ns")
    if sep1 and sep2 and sep3 and sep4 and sep5 and sep6 and sep7 and (not tail or tail == SWAPPED):
        try:
            order = int(order_s)
            result = (order, int(mask_s, 16), gfp_flags, int(pid_s), int(tgid_s), comm, int(ts_s), bool(tail))
        except ValueError:
            pass
        else:
            if 0 <= order <= MAX_ORDER and order_s.isdigit() and ts_s.isdigit():
                return result
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


Pfn = tuple[int, str | None, int | None, str | None, str | None]


def parse_pfn(line: str, offset: int) -> Pfn:
    """(pfn, page migratetype, pageblock, pageblock migratetype, raw flags) of a PFN line."""
    parts = line.split(" ")
    try:
        if (
            len(parts) == 10
            and parts[2] == "type"
            and parts[4] == "Block"
            and parts[6] == "type"
            and parts[8] == "Flags"
        ):
            return int(parts[1], 0), parts[3], int(parts[5]), parts[7], parts[9]
        # Other layouts (older kernels): walk `key value` pairs.
        pfn = int(parts[1], 0)
        types: list[str] = []
        block = flags = None
        for key, value in zip(parts[2::2], parts[3::2]):
            if key == "type":
                types.append(value)
            elif key == "Block":
                block = int(value)
            elif key == "Flags":
                flags = value
        types += [None, None]  # type: ignore[list-item]
        return pfn, types[0], block, types[1], flags
    except (ValueError, IndexError):
        raise BadRecord(offset, "malformed PFN line") from None


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


class PageOwnerParser:
    """Parses one block at a time; shares interned stacks and memcgs across records."""

    __slots__ = ("interner", "_memcgs")

    def __init__(self, interner: StackInterner | None = None):
        self.interner = interner if interner is not None else StackInterner()
        self._memcgs: dict[str, Memcg | None] = {}

    def parse(self, block: list[str], lineno: int) -> PageOwnerRecord:
        """One record from its lines; raises BadRecord."""
        header = block[0].rstrip("\r\n")
        if not header.startswith(HEADER):
            raise BadRecord(0, "expected a 'Page allocated via order' line")
        order, mask, gfp_flags, pid, tgid, comm, ts, swapped = parse_header(header)

        owner = None
        pfn = None
        n = len(block)
        i = 1
        while i < n:
            line = block[i]
            if line.startswith("PFN "):
                pfn = parse_pfn(line.rstrip("\r\n"), i)
                i += 1
                break
            if line.startswith(OWNER_PREFIXES):
                owner = self._owner(line, i)
                i += 1
                continue
            break
        if pfn is None:
            raise BadRecord(min(i, n - 1), "expected a 'PFN' line")

        # The trailers are the last lines: scan back to where the frames end.
        j = n
        while j > i and block[j - 1].startswith(TRAILERS):
            j -= 1
        stack = None
        extra: tuple[str, ...] = ()
        if j > i:
            stack, extra, bad = self.interner.resolve(tuple(block[i:j]))
            if bad >= 0:
                raise BadRecord(i + bad, "expected a stack frame")

        handle = migrate_reason = memcg = None
        slab_cache = False
        for k in range(j, n):
            line = block[k].rstrip("\r\n")
            if line.startswith(HANDLE):
                try:
                    handle = int(line[len(HANDLE) :]) & 0xFFFFFFFF
                except ValueError:
                    raise BadRecord(k, "malformed handle line") from None
            elif line.startswith(CHARGED):
                memcg = self._memcgs.get(line, False)
                if memcg is False:
                    memcg = self._memcgs[line] = parse_memcg(line)
                if memcg is None:
                    raise BadRecord(k, "malformed memcg line")
            elif line.startswith(MIGRATED):
                migrate_reason = line[len(MIGRATED) :]
            elif line.startswith(SLAB_CACHE):
                if line != SLAB_CACHE:
                    raise BadRecord(k, "malformed 'Slab cache page' line")
                slab_cache = True
            else:
                owner = self._owner(line, k)

        if handle is None:
            if stack is None:
                stack = ()
        elif not stack:
            stack = None  # mode=handle: frames come from show_stacks_handles
        return PageOwnerRecord(
            order, mask, gfp_flags, pid, tgid, comm, ts, swapped,
            pfn[0], pfn[1], pfn[2], pfn[3], pfn[4],
            stack, handle, migrate_reason, memcg, slab_cache, owner, lineno, extra,
        )  # fmt: skip

    def _owner(self, line: str, offset: int) -> Owner:
        owner = parse_owner(line.rstrip("\r\n"))
        if owner is None:
            raise BadRecord(offset, "malformed owner line")
        return owner


def iter_page_owner(
    lines: LineSource,
    *,
    strict: bool = False,
    on_issue: OnIssue | None = None,
    interner: StackInterner | None = None,
    source: str = "",
) -> Iterator[PageOwnerRecord]:
    """Records of a page_owner dump, streamed from any line iterator.

    A malformed record is reported (`on_issue`, else the `harness.parse` logger)
    with the number of its offending line and skipped; with `strict` it raises
    ParseError instead.
    """
    report = Reporter(strict, on_issue, source)
    parser = PageOwnerParser(interner)
    parse = parser.parse
    for lineno, block in iter_blocks(lines):
        try:
            yield parse(block, lineno)
        except BadRecord as bad:
            report(lineno + bad.offset, bad.message, block[bad.offset])
