"""Typed records for page_owner, swap_page_owner and page_owner_stacks output.

Formats (Linux 7.3, mm/page_owner.c print_page_owner() and stack_print(), the
swap_page_owner file of the project's page-owner-swap series, and the owner
lines of the "make the owner clearer" RFC): see harness/results/parse/page_owner.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

PAGE_SIZE = 4096
MIB = 1024 * 1024

# A stack is the tuple of its frames, interned: identical stacks are one object.
Stack = tuple[str, ...]

# x86_64: swp_entry_t.val = type << SWP_TYPE_SHIFT | offset (include/linux/swapops.h),
# SWP_TYPE_SHIFT = BITS_PER_XA_VALUE (63) - MAX_SWAPFILES_SHIFT (5).
SWP_TYPE_SHIFT = 58
SWP_OFFSET_MASK = (1 << SWP_TYPE_SHIFT) - 1


@dataclass(frozen=True, slots=True)
class SlabOwner:
    """`SLAB_PAGE slab_name:kmalloc-32`"""

    slab_name: str


@dataclass(frozen=True, slots=True)
class FileOwner:
    """`FILE_PAGE dev 253:0 ino:1954 index:0xc1 mapcount:1 refcount:2 0x4c2000 - 0x4c3000`

    The mapped range is absent when the page is not mapped in the reader's view.
    """

    dev_major: int
    dev_minor: int
    ino: int
    index: int
    mapcount: int
    refcount: int
    start: int | None = None
    end: int | None = None


@dataclass(frozen=True, slots=True)
class AnonOwner:
    """`ANON_PAGE address 0x4c4000`"""

    address: int


Owner = SlabOwner | FileOwner | AnonOwner


class Memcg(NamedTuple):
    """`Charged [(via objcg) ]to [offline ]memcg NAME` (NAME is the cgroup's leaf name).

    A NamedTuple rather than a dataclass: it is part of grouping keys, hashed
    once per record, and tuple hashing is done in C.
    """

    name: str
    via_objcg: bool = False
    offline: bool = False


# Aggregation key for pages whose memcg_data points to slab object extensions.
SLAB_CACHE_MEMCG = "(slab cache page)"


@dataclass(slots=True)
class PageOwnerRecord:
    """One allocated (head) page of /sys/kernel/debug/page_owner.

    pid, tgid, comm and ts_nsec are None only for headers of old kernels that did
    not print them. `stack` is None in `mode=handle` until joined with
    show_stacks_handles (see harness.results.parse.handles). `flags` is the raw `%pGp`
    text; see `page_flags` and `page_flag_names`.
    """

    order: int
    gfp_mask: int
    gfp_flags: str
    pid: int | None
    tgid: int | None
    comm: str | None
    ts_nsec: int | None
    swapped: bool
    pfn: int | None
    page_mt: str | None
    block: int | None
    block_mt: str | None
    flags: str | None
    stack: Stack | None
    handle: int | None
    migrate_reason: str | None
    memcg: Memcg | None
    slab_cache: bool
    owner: Owner | None
    lineno: int
    extra: tuple[str, ...] = ()

    @property
    def pages(self) -> int:
        return 1 << self.order

    @property
    def nbytes(self) -> int:
        return PAGE_SIZE << self.order

    @property
    def gfp_flag_names(self) -> tuple[str, ...]:
        return tuple(name for name in self.gfp_flags.split("|") if name)

    @property
    def page_flags(self) -> int | None:
        if not self.flags:
            return None
        try:
            return int(self.flags.partition("(")[0], 16)
        except ValueError:
            return None

    @property
    def page_flag_names(self) -> tuple[str, ...]:
        if not self.flags:
            return ()
        inside = self.flags.partition("(")[2].rpartition(")")[0]
        return tuple(name for name in inside.split("|") if name)

    @property
    def memcg_key(self) -> str | None:
        if self.memcg is not None:
            return self.memcg.name
        return SLAB_CACHE_MEMCG if self.slab_cache else None


@dataclass(slots=True)
class SwapPageOwnerRecord:
    """One swapped-out base page of /sys/kernel/debug/swap_page_owner."""

    pid: int
    tgid: int
    comm: str
    ts_nsec: int
    swp_entry: int
    stack: Stack | None
    handle: int | None
    lineno: int
    extra: tuple[str, ...] = ()
    # The v2 series prints the gfp mask (v1 did not: None).
    gfp_mask: int | None = None
    gfp_flags: str | None = None

    # Each record is one base page. The other attributes of page_owner
    # records, as constants, let one aggregation code serve both.
    order = 0
    pages = 1
    swapped = True
    page_mt = block_mt = flags = migrate_reason = memcg = memcg_key = owner = None
    slab_cache = False

    @property
    def nbytes(self) -> int:
        return PAGE_SIZE

    @property
    def swp_type(self) -> int:
        return self.swp_entry >> SWP_TYPE_SHIFT

    @property
    def swp_offset(self) -> int:
        return self.swp_entry & SWP_OFFSET_MASK


@dataclass(slots=True)
class StackRecord:
    """One entry of page_owner_stacks/show_stacks, show_handles or show_stacks_handles.

    show_stacks: frames + nr_base_pages; show_handles: handle + nr_base_pages;
    show_stacks_handles: frames + handle. Missing parts are None (stack: ()).
    """

    stack: Stack
    handle: int | None
    nr_base_pages: int | None
    lineno: int

    # No task, time or page: lets the same aggregation code handle every record type.
    pid = tgid = comm = ts_nsec = order = swapped = None
    gfp_flags = page_mt = block_mt = flags = migrate_reason = memcg = memcg_key = owner = None
    slab_cache = False

    @property
    def pages(self) -> int:
        return self.nr_base_pages or 0
