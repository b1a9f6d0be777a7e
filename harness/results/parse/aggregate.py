"""Pages and MiB by comm, pid, tgid, stack, memcg, gfp flag, migratetype, swapped.

One streaming pass: memory grows with the number of distinct keys, never with
the number of records. A record of order o counts 2**o pages of 4096 bytes
(swap_page_owner records are one base page each), as the cover letter's awk
does: `PAGES += 2^$5; print PAGES*4096/1024^2 " MiB"`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from operator import attrgetter
from typing import Callable, Hashable, Iterable, Mapping, Sequence

from harness.results.parse.detect import STACKS, peek_kind
from harness.results.parse.dump import Handles, Record, iter_records
from harness.results.parse.handles import JoinStats
from harness.results.parse.issues import OnIssue
from harness.results.parse.lines import LineSource
from harness.results.parse.records import MIB, PAGE_SIZE, Stack, StackRecord


@dataclass(slots=True)
class Tally:
    records: int = 0
    pages: int = 0

    @property
    def nbytes(self) -> int:
        return self.pages * PAGE_SIZE

    @property
    def mib(self) -> float:
        return self.pages * PAGE_SIZE / MIB


def stack_key(record: Record | StackRecord) -> Hashable:
    """The stack; without frames (handle mode not joined, show_handles), the handle number."""
    stack = record.stack
    if stack:
        return stack
    handle = record.handle
    return handle if handle is not None else stack


_GFP_CACHE: dict[str, tuple[str, ...]] = {}


def gfp_flag_names(record: Record) -> tuple[str, ...]:
    flags = record.gfp_flags
    if flags is None:
        return ()
    names = _GFP_CACHE.get(flags)
    if names is None:
        names = tuple(name for name in flags.split("|") if name)
        if len(_GFP_CACHE) < 4096:  # the names come from a fixed kernel table
            _GFP_CACHE[flags] = names
    return names


# Dimension name -> key of a record. Keys of MULTI dimensions are iterables:
# the record counts once under each (a page is GFP_KERNEL *and* __GFP_COMP).
KEYS: dict[str, Callable[[Record], Hashable]] = {
    "comm": attrgetter("comm"),
    "pid": attrgetter("pid"),
    "tgid": attrgetter("tgid"),
    "stack": stack_key,
    "memcg": attrgetter("memcg_key"),
    "gfp": attrgetter("gfp_flags"),
    "gfp_flag": gfp_flag_names,  # type: ignore[dict-item]
    "migratetype": attrgetter("page_mt"),
    "swapped": attrgetter("swapped"),
    "order": attrgetter("order"),
}
MULTI = frozenset({"gfp_flag"})
DIMENSIONS = ("comm", "pid", "tgid", "stack", "memcg", "gfp_flag", "migratetype", "swapped")


@dataclass
class Summary:
    """Totals and per-dimension tallies of a stream of records."""

    dimensions: Sequence[str] = DIMENSIONS
    total: Tally = field(default_factory=Tally)
    by: dict[str, dict[Hashable, Tally]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = [name for name in self.dimensions if name not in KEYS]
        if unknown:
            raise ValueError(f"unknown dimension(s) {unknown}; known: {sorted(KEYS)}")
        for name in self.dimensions:
            self.by.setdefault(name, {})

    def feed(self, records: Iterable[Record]) -> "Summary":
        single = [(KEYS[n], self.by[n]) for n in self.dimensions if n not in MULTI]
        multi = [(KEYS[n], self.by[n]) for n in self.dimensions if n in MULTI]
        total = self.total
        n_records = total_pages = 0
        for record in records:
            pages = record.pages
            n_records += 1
            total_pages += pages
            for key_of, table in single:
                key = key_of(record)
                tally = table.get(key)
                if tally is None:
                    tally = table[key] = Tally()
                tally.records += 1
                tally.pages += pages
            for keys_of, table in multi:
                for key in keys_of(record):  # type: ignore[attr-defined]
                    tally = table.get(key)
                    if tally is None:
                        tally = table[key] = Tally()
                    tally.records += 1
                    tally.pages += pages
        total.records += n_records
        total.pages += total_pages
        return self

    def add(self, record: Record) -> None:
        self.feed((record,))

    def pages(self, dimension: str) -> dict[Hashable, int]:
        return {key: tally.pages for key, tally in self.by[dimension].items()}

    def mib(self, dimension: str) -> dict[Hashable, float]:
        return {key: tally.mib for key, tally in self.by[dimension].items()}

    def top(self, dimension: str, n: int | None = None) -> list[tuple[Hashable, Tally]]:
        """Keys by pages, largest first."""
        ranked = sorted(self.by[dimension].items(), key=lambda item: (-item[1].pages, -item[1].records))
        return ranked if n is None else ranked[:n]

    @property
    def total_mib(self) -> float:
        return self.total.mib


def summarise(
    lines: LineSource,
    *,
    kind: str | None = None,
    dimensions: Sequence[str] = DIMENSIONS,
    handles: Handles | None = None,
    where: Callable[[Record], bool] | None = None,
    strict: bool = False,
    on_issue: OnIssue | None = None,
    source: str = "",
) -> Summary:
    """Parse a dump (kind detected) and tally it in one pass.

    A page_owner_stacks dump (show_stacks) only has the "stack" dimension:
    nr_base_pages per stack.
    """
    kind, lines = peek_kind(lines) if kind is None else (kind, lines)
    if kind == STACKS and set(dimensions) - {"stack"}:
        raise ValueError(f"a page_owner_stacks dump can only be summarised by stack, not {list(dimensions)}")
    records = iter_records(lines, kind=kind, handles=handles, strict=strict, on_issue=on_issue, source=source)
    if where is not None:
        records = filter(where, records)  # type: ignore[arg-type,assignment]
    return Summary(dimensions).feed(records)  # type: ignore[arg-type]


def join_summary(summary: Summary, handles: Mapping[int, Stack], *, stats: JoinStats | None = None) -> JoinStats:
    """Re-key, in place, the "stack" tallies of a summary of handle-mode records not yet joined.

    Same result as summarising `handles.join_handles(...)`, but lets a reader
    stream the dump once and read show_stacks_handles *after* it, when every
    stack the dump names is listed. Unknown handles stay keyed by their number
    and are counted in the stats.
    """
    stats = stats if stats is not None else JoinStats()
    table = summary.by.get("stack")
    if table is None:
        return stats
    joined: dict[Hashable, Tally] = {}
    for key, tally in table.items():
        if isinstance(key, int):
            stack = handles.get(key)
            if stack is None:
                missing = stats.missing.setdefault(key, [0, 0])
                missing[0] += tally.records
                missing[1] += tally.pages
            else:
                stats.joined += tally.records
                key = stack
        into = joined.setdefault(key, Tally())
        into.records += tally.records
        into.pages += tally.pages
    summary.by["stack"] = joined
    return stats


def select(
    pids: Iterable[int] | None = None,
    tgids: Iterable[int] | None = None,
    comms: Iterable[str] | None = None,
) -> Callable[[Record], bool] | None:
    """A record predicate like page_owner_sort's --pid/--tgid/--name (all given lists must match)."""
    pid_set = set(pids) if pids else None
    tgid_set = set(tgids) if tgids else None
    comm_set = set(comms) if comms else None
    if pid_set is None and tgid_set is None and comm_set is None:
        return None

    def keep(record: Record) -> bool:
        return (
            (pid_set is None or record.pid in pid_set)
            and (tgid_set is None or record.tgid in tgid_set)
            and (comm_set is None or record.comm in comm_set)
        )

    return keep


def mib_by(dimension: str, lines: LineSource, **options) -> dict[Hashable, float]:
    return summarise(lines, dimensions=(dimension,), **options).mib(dimension)


def mib_by_comm(lines: LineSource, **options) -> dict[Hashable, float]:
    """MiB per comm: what the cover letter's awk prints for one COMM."""
    return mib_by("comm", lines, **options)


def mib_by_pid(lines: LineSource, **options) -> dict[Hashable, float]:
    return mib_by("pid", lines, **options)


def mib_by_tgid(lines: LineSource, **options) -> dict[Hashable, float]:
    return mib_by("tgid", lines, **options)


def mib_by_stack(lines: LineSource, **options) -> dict[Hashable, float]:
    return mib_by("stack", lines, **options)


def mib_by_memcg(lines: LineSource, **options) -> dict[Hashable, float]:
    return mib_by("memcg", lines, **options)


def mib_by_gfp_flag(lines: LineSource, **options) -> dict[Hashable, float]:
    return mib_by("gfp_flag", lines, **options)


def mib_by_migratetype(lines: LineSource, **options) -> dict[Hashable, float]:
    return mib_by("migratetype", lines, **options)


def mib_by_swapped(lines: LineSource, **options) -> dict[Hashable, float]:
    return mib_by("swapped", lines, **options)


def total_mib(lines: LineSource, **options) -> float:
    return summarise(lines, dimensions=(), **options).total_mib
