"""The lines of a page_owner record, one parser each: the header, the PFN line, the owner and memcg lines.

See page_owner.py for the record's layout; these raise BadRecord or return None for a malformed line.
"""

from __future__ import annotations

import re

from harness.results.parse.bad_record import BadRecord
from harness.results.parse.records import AnonOwner, FileOwner, Memcg, Owner, SlabOwner

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


Header = tuple[int, int, str, int | None, int | None, str | None, int | None, bool]


def parse_header(line: str) -> Header:
    """(order, gfp_mask, gfp_flags, pid, tgid, comm, ts_nsec, swapped) of a first line."""
    left, sep, tail = line.rpartition("), ts ")
    if sep:
        head = parse_header_until_comm(left)
        ts = parse_header_ts(tail)
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


def parse_header_until_comm(left: str) -> tuple | None:
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


def parse_header_ts(tail: str) -> tuple[int, bool] | None:
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


def record_stack(stack: tuple | None, handle: int | None) -> tuple | None:
    """A record's stack: () when the dump printed no frames and no handle; None in
    mode=handle when it printed no frames (they come from show_stacks_handles)."""
    if handle is None:
        return () if stack is None else stack
    return stack or None
