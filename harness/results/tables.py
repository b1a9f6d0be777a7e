"""Plain-text tables for the terminal and figures.txt: one row per measure, one column per boot."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from harness.run.workloads import RoundTrip

T = TypeVar("T")
Row = tuple[str, Callable[[T], object]]  # a measure's name, and how to get it from a column


def side_by_side(rows: Sequence[Row], columns: Mapping[str, T], cell_width: int = 22) -> str:
    """Rows of measures against named columns; floats to one decimal."""
    width = max(len(name) for name, _ in rows)
    header = " " * width + "".join(f" | {name:>{cell_width}}" for name in columns)
    lines = [header, "-" * len(header)]
    for name, value in rows:
        cells = []
        for column in columns.values():
            cell = value(column)
            cells.append(f" | {cell:>{cell_width}.1f}" if isinstance(cell, float) else f" | {cell!s:>{cell_width}}")
        lines.append(f"{name:<{width}}" + "".join(cells))
    return "\n".join(lines)


ROUND_TRIP_ROWS: list[Row] = [
    ("after dd: dd MiB", lambda r: r.at("dd").page_owner.comm("dd")),
    ("after dd: cat MiB", lambda r: r.at("dd").page_owner.comm("cat")),
    ("after DD: swap used MiB", lambda r: r.at("DD").swap_used_mib),
    ("after DD: swap_page_owner MiB", lambda r: r.at("DD").swap_page_owner.total_mib
     if r.at("DD").swap_page_owner.available else "EINVAL"),
    ("after DD: records lost MiB", lambda r: r.at("DD").swap_lost_mib
     if r.at("DD").swap_records_lost is not None else "-"),
    ("after DD: total-free MiB", lambda r: r.at("DD").used_mib),
    ("after DD: page_owner MiB", lambda r: r.at("DD").page_owner.total_mib),
    ("after cat: dd MiB", lambda r: r.at("cat").page_owner.comm("dd")),
    ("after cat: cat MiB", lambda r: r.at("cat").page_owner.comm("cat")),
    ("after cat: (swapped) MiB", lambda r: r.at("cat").page_owner.swapped_mib),
    ("DD pinned MiB", lambda r: r.dd_pushed_mib),
    ("round trip s", lambda r: r.seconds),
    ("  of which dd, DD, cat s", lambda r: r.workload_seconds),
]


def round_trip_table(columns: Mapping[str, RoundTrip]) -> str:
    """The cover letter's figures, one column per boot (e.g. page_owner=on vs on,swap)."""
    return side_by_side(ROUND_TRIP_ROWS, columns)
