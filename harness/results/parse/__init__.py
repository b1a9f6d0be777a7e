"""Parsers for page_owner, swap_page_owner, page_owner_stacks and mm counters.

Streaming: every record parser takes a file, a stream (gzip, SSH channel),
a str/bytes, or any iterable of lines, and yields typed records one at a time.
Malformed records are reported with their line number and skipped, or raise
ParseError in strict mode. Aggregations keep one tally per distinct key.

    from harness.results import parse
    with open("page_owner.txt") as dump:
        print(parse.mib_by_comm(dump)["dd"])
"""

from harness.results.parse.aggregate import (
    DIMENSIONS,
    Summary,
    join_summary,
    Tally,
    mib_by,
    mib_by_comm,
    mib_by_gfp_flag,
    mib_by_memcg,
    mib_by_migratetype,
    mib_by_pid,
    mib_by_stack,
    mib_by_swapped,
    mib_by_tgid,
    select,
    stack_key,
    summarise,
    total_mib,
)
from harness.results.parse.detect import KINDS, PAGE_OWNER, STACKS, SWAP_PAGE_OWNER, peek_kind
from harness.results.parse.dump import iter_records
from harness.results.parse.grouping import Group, allocator, cull, parse_cull, parse_sort, sort_groups
from harness.results.parse.handles import JoinStats, join_handles
from harness.results.parse.issues import ParseError, ParseIssue
from harness.results.parse.owner_stacks import (
    iter_stack_records,
    load_handle_map,
    pages_by_stack,
    parse_count_threshold,
)
from harness.results.parse.page_owner import iter_page_owner
from harness.results.parse.procfs import (
    BlockStat,
    FreeOutput,
    SwapDevice,
    int_values,
    parse_block_stat,
    parse_free,
    parse_grep_output,
    parse_meminfo,
    parse_mthp_stats,
    parse_swaps,
    parse_vmstat,
    parse_zswap,
    pcp_free_pages,
)
from harness.results.parse.records import (
    MIB,
    PAGE_SIZE,
    AnonOwner,
    FileOwner,
    Memcg,
    PageOwnerRecord,
    SlabOwner,
    Stack,
    StackRecord,
    SwapPageOwnerRecord,
)
from harness.results.parse.stacks import StackInterner, normalise_frame
from harness.results.parse.swap_page_owner import iter_swap_page_owner

__all__ = [
    "allocator",
    "AnonOwner",
    "BlockStat",
    "cull",
    "DIMENSIONS",
    "FileOwner",
    "FreeOutput",
    "Group",
    "int_values",
    "iter_page_owner",
    "iter_records",
    "iter_stack_records",
    "iter_swap_page_owner",
    "join_handles",
    "join_summary",
    "JoinStats",
    "KINDS",
    "load_handle_map",
    "Memcg",
    "MIB",
    "mib_by",
    "mib_by_comm",
    "mib_by_gfp_flag",
    "mib_by_memcg",
    "mib_by_migratetype",
    "mib_by_pid",
    "mib_by_stack",
    "mib_by_swapped",
    "mib_by_tgid",
    "normalise_frame",
    "PAGE_OWNER",
    "PAGE_SIZE",
    "PageOwnerRecord",
    "pages_by_stack",
    "parse_block_stat",
    "parse_count_threshold",
    "parse_cull",
    "parse_free",
    "parse_grep_output",
    "parse_meminfo",
    "parse_mthp_stats",
    "parse_sort",
    "parse_swaps",
    "parse_vmstat",
    "parse_zswap",
    "pcp_free_pages",
    "ParseError",
    "ParseIssue",
    "peek_kind",
    "select",
    "SlabOwner",
    "sort_groups",
    "Stack",
    "stack_key",
    "StackInterner",
    "StackRecord",
    "STACKS",
    "summarise",
    "Summary",
    "SWAP_PAGE_OWNER",
    "SwapDevice",
    "SwapPageOwnerRecord",
    "Tally",
    "total_mib",
]
