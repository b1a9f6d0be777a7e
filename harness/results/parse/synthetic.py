"""Synthetic page_owner / show_stacks_handles text in the exact 7.3 format, for benchmarks.

Not test data: tests use recorded dumps (tests/data). This makes large inputs
of a realistic shape (record sizes, stack reuse, orders) to measure parsers.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Iterator, TextIO

_SYMBOLS = (
    "post_alloc_hook", "get_page_from_freelist", "__alloc_frozen_pages_noprof", "alloc_pages_mpol",
    "folio_alloc_mpol_noprof", "shmem_alloc_folio", "shmem_alloc_and_add_folio", "shmem_get_folio_gfp",
    "shmem_write_begin", "generic_perform_write", "shmem_file_write_iter", "vfs_write", "ksys_write",
    "do_syscall_64", "entry_SYSCALL_64_after_hwframe", "allocate_slab", "___slab_alloc",
    "kmem_cache_alloc_noprof", "__kmalloc_noprof", "filemap_alloc_folio_noprof", "page_cache_ra_unbounded",
    "filemap_fault", "__do_fault", "__handle_mm_fault", "handle_mm_fault", "do_user_addr_fault",
    "exc_page_fault", "asm_exc_page_fault", "vma_alloc_folio_noprof", "do_anonymous_page",
    "__vmalloc_node_range_noprof", "alloc_pages_bulk_noprof", "copy_process", "kernel_clone",
    "do_execveat_common.isra.0", "swap_cluster_readahead", "swapin_readahead", "do_swap_page",
)  # fmt: skip
_COMMS = ("dd", "DD", "cat", "systemd", "kworker/u8:1", "swapper/0", "sshd", "bash", "Web Content",
          "(sd-pam)", "a), ts 5 (b", "kswapd0", "rcu_sched", "init")  # fmt: skip
_GFP = (
    (0x140CCA, "GFP_HIGHUSER_MOVABLE|__GFP_COMP"),
    (0xCC0, "GFP_KERNEL"),
    (0x52CC0, "GFP_KERNEL|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP"),
    (0x152C4A, "GFP_NOFS|__GFP_HIGHMEM|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP|__GFP_HARDWALL|__GFP_MOVABLE"),
    (0x0, ""),
)
_TYPES = {0x140CCA: "Movable", 0x152C4A: "Movable"}
_MEMCGS = ("Charged to memcg session-1.scope\n", "Charged to memcg /\n",
           "Charged (via objcg) to memcg system.slice\n", "Charged to offline memcg gone.scope\n",
           "Slab cache page\n", "", "", "")  # fmt: skip


@dataclass
class SyntheticDump:
    """A reproducible population of stacks; `records()` yields page_owner record texts."""

    seed: int = 1
    stacks: int = 400
    mode: str = "stack"  # stack, handle or stack_handle
    swapped_ratio: float = 0.1

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)
        self._rng = rng
        self._stacks = []
        for index in range(self.stacks):
            depth = rng.randint(8, 16)
            frames = "".join(
                f" {rng.choice(_SYMBOLS)}+{rng.randrange(0x10, 0x2000):#x}/{rng.randrange(0x2000, 0x4000):#x}\n"
                for _ in range(depth)
            )
            self._stacks.append((index * 8 + 4097, frames))

    def records(self) -> Iterator[str]:
        rng = self._rng
        pfn = 0x1000
        ts = 1_000_000_000
        # A few hundred tasks, a few of them owning most pages (as in a real guest).
        # Each task allocates through a handful of stacks, gfp masks and orders.
        tasks = [
            (
                rng.randrange(1, 4000),
                rng.choice(_COMMS),
                rng.sample(self._stacks, rng.randint(1, 8)),
                rng.sample(_GFP, 2),
                rng.sample((0, 0, 0, 0, 1, 2, 3, 9), 2),
            )
            for _ in range(300)
        ]
        weights = [1.0 / (rank + 1) for rank in range(len(tasks))]
        while True:
            pid, comm, stacks, gfps, orders = rng.choices(tasks, weights)[0]
            handle, frames = rng.choice(stacks)
            mask, names = rng.choice(gfps)
            order = rng.choice(orders)
            ts += rng.randrange(1000, 100000)
            swapped = " (swapped)" if rng.random() < self.swapped_ratio else ""
            mt = _TYPES.get(mask, "Unmovable")
            parts = [
                f"Page allocated via order {order}, mask {mask:#x}({names}), pid {pid}, tgid {pid} ({comm}), "
                f"ts {ts} ns{swapped}\n",
                f"PFN {pfn:#x} type {mt} Block {pfn >> 9} type {mt} Flags "
                f"{0x10000000002003C:#x}(referenced|uptodate|dirty|lru|swapbacked|node=0|zone=1)\n",
            ]
            if self.mode != "handle":
                parts.append(frames)
            if self.mode != "stack":
                parts.append(f"handle: {handle}\n")
            if rng.random() < 0.01:
                parts.append("Page has been migrated, last migrate reason: compaction\n")
            parts.append(rng.choice(_MEMCGS))
            parts.append("\n")
            pfn += 1 << order
            yield "".join(parts)

    def stacks_handles(self) -> str:
        """show_stacks_handles for the population."""
        return "".join(f"{frames}handle: {handle}\n\n" for handle, frames in self._stacks)

    def write(self, out: TextIO, size: int) -> int:
        """Write records until at least `size` characters; returns the number of records."""
        written = count = 0
        for text in self.records():
            out.write(text)
            written += len(text)
            count += 1
            if written >= size:
                return count
        return count
