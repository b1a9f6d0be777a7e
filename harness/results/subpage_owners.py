"""Owners of a region's pages, page by page: page_owner and swap_page_owner joined with pagemap.

A region is a list of page states (harness.run.mthp_holder.PageState: a PFN
when present, a swap entry when swapped out) and, per page, the comm that
allocated it. These functions say, for each page, what the kernel's files
claim instead:

- `swap_owner_mismatches`: the swap_page_owner record of each swapped-out
  page's entry (missing, or another comm);
- `page_owner_mismatches`: the page_owner record covering each present page's
  PFN (page_owner prints one record per folio head, with its order: a tail
  page is covered by the head's record, as /sys/kernel/debug/page_owner
  shows it);
- `duplicates`: swap entries with more than one record.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Protocol

from harness.results.parse.dump import iter_records
from harness.results.parse.records import PageOwnerRecord, SwapPageOwnerRecord
from harness.results.parse.textio import open_dump

MAX_ORDER = 10


class PageState(Protocol):
    pfn: int | None

    @property
    def swap_entry(self) -> int | None: ...


def page_owner_records(dump: Path | str) -> dict[int, PageOwnerRecord]:
    """The records of a kept page_owner dump (text or handle mode), by head PFN."""
    with open_dump(dump) as lines:
        return {record.pfn: record for record in iter_records(lines) if record.pfn is not None}  # type: ignore[union-attr]


def swap_page_owner_records(dump: Path | str) -> list[SwapPageOwnerRecord]:
    with open_dump(dump) as lines:
        return list(iter_records(lines))  # type: ignore[arg-type]


def covering(records: dict[int, PageOwnerRecord], pfn: int) -> PageOwnerRecord | None:
    """The record of the folio holding `pfn`: its head is `pfn` rounded down to the record's order."""
    for order in range(MAX_ORDER + 1):
        record = records.get(pfn & ~((1 << order) - 1))
        if record is not None and record.order == order:
            return record
    return None


@dataclass
class Comparison:
    """Pages of a region checked against the comm expected for each."""

    checked: int = 0
    mismatches: list[tuple[int, str, str]] = field(default_factory=list)  # (index, expected, found)
    found: Counter = field(default_factory=Counter)  # comm the kernel names -> pages
    orders: Counter = field(default_factory=Counter)  # folio order -> pages (page_owner only)
    swapped: int = 0  # pages whose record is marked " (swapped)" (page_owner only)

    def summary(self, limit: int = 8) -> str:
        head = ", ".join(f"page {i}: {want} -> {got}" for i, want, got in self.mismatches[:limit])
        return (f"{len(self.mismatches)} of {self.checked} pages misattributed (kernel says {dict(self.found)})"
                + (f"; first: {head}" if head else ""))


def page_owner_mismatches(states: Iterable[PageState], expected: Callable[[int], str],
                          records: dict[int, PageOwnerRecord]) -> Comparison:
    """Check every present page of the region against page_owner."""
    result = Comparison()
    for index, state in enumerate(states):
        if state.pfn is None:
            continue
        result.checked += 1
        record = covering(records, state.pfn)
        comm = "(no record)" if record is None else str(record.comm)
        result.found[comm] += 1
        if record is not None:
            result.orders[record.order] += 1
            result.swapped += record.swapped
        if comm != expected(index):
            result.mismatches.append((index, expected(index), comm))
    return result


def swap_owner_mismatches(states: Iterable[PageState], expected: Callable[[int], str],
                          records: Iterable[SwapPageOwnerRecord]) -> Comparison:
    """Check every swapped-out page of the region against the record of its swap entry."""
    by_entry = {record.swp_entry: record for record in records}
    result = Comparison()
    for index, state in enumerate(states):
        entry = state.swap_entry
        if entry is None:
            continue
        result.checked += 1
        record = by_entry.get(entry)
        comm = "(no record)" if record is None else record.comm
        result.found[comm] += 1
        if comm != expected(index):
            result.mismatches.append((index, expected(index), comm))
    return result


def duplicates(records: Iterable[SwapPageOwnerRecord]) -> dict[int, int]:
    """Swap entries that have more than one record: entry -> records."""
    counts = Counter(record.swp_entry for record in records)
    return {entry: n for entry, n in counts.items() if n > 1}
