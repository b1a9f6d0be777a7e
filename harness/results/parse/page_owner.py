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

from typing import Iterator

from harness.results.parse.bad_record import BadRecord, parse_records
from harness.results.parse.issues import OnIssue, Reporter
from harness.results.parse.lines import LineSource
from harness.results.parse.page_owner_lines import (
    CHARGED, HANDLE, HEADER, MIGRATED, OWNER_PREFIXES, SLAB_CACHE, TRAILERS, Header, parse_header,
    parse_header_ts, parse_header_until_comm, parse_memcg, parse_owner, parse_pfn, record_stack,
)
from harness.results.parse.records import Memcg, Owner, PageOwnerRecord
from harness.results.parse.stacks import StackInterner, normalise_frame

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
                head = parse_header_until_comm(left)
                if head is not None:
                    if len(self._heads) >= _HEAD_CACHE_MAX:
                        self._heads.clear()
                    self._heads[left] = head
            ts = parse_header_ts(tail)
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

        stack = record_stack(stack, handle)
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

