"""page_owner_sort-style culling (grouping) and sorting, streamed.

Like tools/mm/page_owner_sort: without cull keys, records that are identical
but for their timestamp and PFN line are one group; `times` is how many
records a group has, `pages` their pages. Unlike it, records are not kept:
memory grows with the number of groups.
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter
from typing import Callable, Hashable, Iterable, Sequence

from harness.results.parse.aggregate import stack_key
from harness.results.parse.records import MIB, PAGE_SIZE, PageOwnerRecord, SlabOwner, StackRecord, SwapPageOwnerRecord

AnyRecord = PageOwnerRecord | SwapPageOwnerRecord | StackRecord

CULL_KEYS = ("pid", "tgid", "comm", "stacktrace", "allocator", "memcg", "migratetype", "swapped", "order")
SORT_KEYS = ("times", "pages", "pid", "tgid", "comm", "stacktrace", "timestamp", "allocator", "txt")

ALIASES = {
    "p": "pid",
    "tg": "tgid",
    "n": "comm",
    "name": "comm",
    "st": "stacktrace",
    "stack": "stacktrace",
    "ator": "allocator",
    "mt": "migratetype",
    "t": "times",
    "count": "times",
    "m": "pages",
    "memory": "pages",
    "at": "timestamp",
    "alloc_ts": "timestamp",
    "ts": "timestamp",
    "T": "txt",
}
# Counts sort largest first unless a sign says otherwise; everything else ascending.
DESCENDING_BY_DEFAULT = frozenset({"times", "pages"})


def _canonical(word: str, known: Sequence[str], what: str) -> str:
    name = ALIASES.get(word, word)
    if name not in known:
        raise ValueError(f"unknown {what} key {word!r}; known: {', '.join(known)}")
    return name


def parse_cull(text: str) -> tuple[str, ...]:
    """`pid,comm` -> ("pid", "comm"); page_owner_sort's short names are accepted."""
    return tuple(_canonical(word.strip(), CULL_KEYS, "cull") for word in text.split(",") if word.strip())


def parse_sort(text: str) -> list[tuple[str, bool]]:
    """`-pages,comm` -> [("pages", True), ("comm", False)]: (key, descending)."""
    spec = []
    for word in text.split(","):
        word = word.strip()
        if not word:
            continue
        sign = word[0] if word[0] in "+-" else ""
        name = _canonical(word[1:] if sign else word, SORT_KEYS, "sort")
        descending = sign == "-" or (not sign and name in DESCENDING_BY_DEFAULT)
        spec.append((name, descending))
    return spec


def allocator(record: AnyRecord) -> str:
    """page_owner_sort's allocator classes: CMA, SLAB, VMALLOC, else OTHERS."""
    classes = []
    if "CMA" in (record.page_mt, record.block_mt):
        classes.append("CMA")
    if "slab" in (record.flags or "") or record.slab_cache or isinstance(record.owner, SlabOwner):
        classes.append("SLAB")
    if record.stack and _vmalloc(record.stack):
        classes.append("VMALLOC")
    return " ".join(classes) or "OTHERS"


_VMALLOC_CACHE: dict[tuple[str, ...], bool] = {}


def _vmalloc(stack: tuple[str, ...]) -> bool:
    found = _VMALLOC_CACHE.get(stack)
    if found is None:
        # page_owner_sort: an alloc_pages frame right before __vmalloc_node_range.
        found = any(
            "__vmalloc_node_range" in frame and "alloc_pages" in stack[i - 1]
            for i, frame in enumerate(stack)
            if i
        )
        if len(_VMALLOC_CACHE) < 65536:
            _VMALLOC_CACHE[stack] = found
    return found


# Cull key -> record attribute, for the keys that are plain attributes.
_ATTRIBUTES = {"pid": "pid", "tgid": "tgid", "comm": "comm", "memcg": "memcg_key",
               "migratetype": "page_mt", "swapped": "swapped", "order": "order"}  # fmt: skip
_FUNCTIONS: dict[str, Callable[[AnyRecord], Hashable]] = {"stacktrace": stack_key, "allocator": allocator}


def _field(record: AnyRecord, name: str) -> Hashable:
    function = _FUNCTIONS.get(name)
    return function(record) if function is not None else getattr(record, _ATTRIBUTES[name])


def _key_function(keys: Sequence[str]) -> Callable[[AnyRecord], tuple]:
    """A fast record -> tuple of cull fields (attrgetter builds the tuple in C when it can)."""
    if all(name in _ATTRIBUTES for name in keys):
        if len(keys) > 1:
            return attrgetter(*(_ATTRIBUTES[name] for name in keys))
        get = attrgetter(_ATTRIBUTES[keys[0]])
        return lambda record: (get(record),)
    getters = [_FUNCTIONS.get(name) or attrgetter(_ATTRIBUTES[name]) for name in keys]
    if len(getters) == 1:
        (only,) = getters
        return lambda record: (only(record),)
    return lambda record: tuple(get(record) for get in getters)


def record_key(record: AnyRecord) -> Hashable:
    """The identity of a record but for its timestamp and PFN/SWP entry line."""
    if type(record) is PageOwnerRecord:
        stack = record.stack
        if not stack and record.handle is not None:
            stack = record.handle
        return (
            record.order, record.gfp_mask, record.gfp_flags, record.pid, record.tgid, record.comm,
            record.swapped, stack, record.migrate_reason, record.memcg,
            record.slab_cache, record.owner,
        )  # fmt: skip
    if isinstance(record, SwapPageOwnerRecord):
        return (record.gfp_mask, record.pid, record.tgid, record.comm, stack_key(record))
    return stack_key(record)


@dataclass(slots=True)
class Group:
    """Records that share the cull keys. `sample` is the first of them."""

    key: tuple
    times: int
    pages: int
    first_ts: int | None
    sample: AnyRecord

    @property
    def mib(self) -> float:
        return self.pages * PAGE_SIZE / MIB

    def value(self, name: str) -> Hashable:
        """A cull field of the group (from its first record)."""
        return _field(self.sample, name)


def cull(records: Iterable[AnyRecord], keys: Sequence[str] = ()) -> list[Group]:
    """Group records by `keys` (CULL_KEYS); no keys: identical records but for ts and PFN."""
    for name in keys:
        if name not in CULL_KEYS:
            raise ValueError(f"unknown cull key {name!r}")
    groups: dict[Hashable, Group] = {}
    key_of = _key_function(keys) if keys else record_key
    for record in records:
        key = key_of(record)
        group = groups.get(key)
        if group is None:
            groups[key] = Group(
                key if isinstance(key, tuple) else (key,), 1, record.pages, record.ts_nsec, record
            )
        else:
            group.times += 1
            group.pages += record.pages
            ts = record.ts_nsec
            if ts is not None and (group.first_ts is None or ts < group.first_ts):
                group.first_ts = ts
    return list(groups.values())


def _sort_value(group: Group, name: str) -> object:
    if name == "times":
        return group.times
    if name == "pages":
        return group.pages
    if name == "timestamp":
        return group.first_ts
    if name == "stacktrace":
        stack = group.value("stacktrace")
        return "\n".join(stack) if isinstance(stack, tuple) else str(stack)
    if name == "txt":
        return repr(group.key)
    return group.value(name)


def sort_groups(groups: list[Group], spec: Sequence[tuple[str, bool]]) -> list[Group]:
    """Sort in place by (key, descending) pairs, ties by pages then times, then first seen first.

    Missing values (None) sort last in either direction.
    """
    order = [*spec, ("pages", True), ("times", True)]
    for name, descending in reversed(order):
        if descending:
            groups.sort(key=lambda g, n=name: _none_last_reversed(_sort_value(g, n)), reverse=True)
        else:
            groups.sort(key=lambda g, n=name: _none_last(_sort_value(g, n)))
    return groups


def _none_last(value: object) -> tuple:
    return (value is None, value if value is not None else 0)


def _none_last_reversed(value: object) -> tuple:
    return (value is not None, value if value is not None else 0)
