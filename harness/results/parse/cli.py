"""`mmharness parse`: page_owner_sort-like summaries of page_owner, swap_page_owner and stacks dumps.

    mmharness parse page_owner.txt.xz --cull comm --sort pages
    ssh guest cat /sys/kernel/debug/page_owner | mmharness parse - --comm dd,DD --format json
    mmharness parse handles.txt --stacks-handles show_stacks_handles.txt --cull stacktrace

Without --cull, records identical but for their timestamp and PFN line are
counted together (page_owner_sort's default). Malformed records are skipped
with a warning on stderr, or stop the parse with --strict (exit 1, naming the
line).
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import ExitStack
from typing import Callable, TextIO

from harness.errors import HarnessError
from harness.results.parse import detect, grouping
from harness.results.parse.aggregate import select
from harness.results.parse.dump import iter_records
from harness.results.parse.grouping import Group
from harness.results.parse.handles import JoinStats
from harness.results.parse.issues import ParseIssue
from harness.results.parse.owner_stacks import load_handle_map
from harness.results.parse.records import MIB, PAGE_SIZE, PageOwnerRecord, StackRecord, SwapPageOwnerRecord
from harness.results.parse.stacks import StackInterner
from harness.results.parse.textio import open_dump

MAX_WARNINGS = 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__.split("\n\n")[0] if __doc__ else None
    parser.add_argument("input", help="the dump, or - for stdin (.gz and .xz are decompressed)")
    parser.add_argument(
        "--kind",
        choices=detect.KINDS,
        help="what the dump is (default: detected from its first lines)",
    )
    parser.add_argument(
        "--stacks-handles",
        metavar="FILE",
        help="page_owner_stacks/show_stacks_handles, to give frames to a mode=handle dump",
    )
    parser.add_argument(
        "--cull",
        default="",
        metavar="KEYS",
        help=f"group by comma-separated keys: {', '.join(grouping.CULL_KEYS)} "
        "(page_owner_sort's p, tg, n, st, ator also work)",
    )
    parser.add_argument(
        "--sort",
        default="",
        metavar="KEYS",
        help=f"[+|-]key[,...] among {', '.join(grouping.SORT_KEYS)}; times and pages sort "
        "largest first, others ascending, unless signed (default: times; pages for stacks)",
    )
    parser.add_argument("--pid", default="", metavar="LIST", help="only these pids (comma-separated)")
    parser.add_argument("--tgid", default="", metavar="LIST", help="only these tgids (comma-separated)")
    parser.add_argument("--comm", "--name", default="", metavar="LIST", help="only these comms (comma-separated)")
    parser.add_argument("--top", type=int, default=None, metavar="N", help="print only the first N groups")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--strict", action="store_true", help="fail on the first malformed record")
    parser.add_argument("-o", "--output", default="-", help="write here instead of stdout")


def _numbers(text: str, option: str) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(word) for word in text.split(",") if word.strip()]
    except ValueError:
        raise HarnessError(f"{option} takes comma-separated numbers, not {text!r}") from None


class _Warnings:
    """Prints the first malformed records on stderr and counts the rest."""

    def __init__(self, stream: TextIO):
        self.stream = stream
        self.count = 0

    def __call__(self, issue: ParseIssue) -> None:
        self.count += 1
        if self.count <= MAX_WARNINGS:
            print(f"warning: {issue}", file=self.stream)

    def close(self) -> None:
        if self.count > MAX_WARNINGS:
            print(f"warning: {self.count - MAX_WARNINGS} more malformed records skipped", file=self.stream)


def run(args: argparse.Namespace) -> int:
    try:
        cull_keys = grouping.parse_cull(args.cull)
        sort_spec = grouping.parse_sort(args.sort)
    except ValueError as error:
        raise HarnessError(str(error)) from None
    if args.top is not None and args.top < 0:
        raise HarnessError("--top takes a number of groups, 0 or more")
    keep = select(_numbers(args.pid, "--pid"), _numbers(args.tgid, "--tgid"),
                  [c for c in args.comm.split(",") if c] or None)  # fmt: skip
    warn = _Warnings(sys.stderr)
    source = "stdin" if args.input == "-" else args.input
    with ExitStack() as stack:
        dump = stack.enter_context(open_dump(args.input))
        kind, lines = detect.peek_kind(dump)
        kind = args.kind or kind
        if kind is None:
            raise HarnessError(
                f"{source}: not a page_owner, swap_page_owner or page_owner_stacks dump",
                hint="pass --kind if the dump starts with something else",
            )
        if kind == detect.STACKS and keep is not None:
            raise HarnessError("--pid, --tgid and --comm do not apply to page_owner_stacks dumps")
        interner = StackInterner()
        handles = None
        if args.stacks_handles:
            with open_dump(args.stacks_handles) as stacks_file:
                handles = load_handle_map(
                    stacks_file, strict=args.strict, on_issue=warn, interner=interner, source=args.stacks_handles
                )
        join = JoinStats()
        records = iter_records(
            lines,
            kind=kind,
            handles=handles,
            strict=args.strict,
            on_issue=warn,
            interner=interner,
            join_stats=join,
            source=source,
        )
        if keep is not None:
            records = filter(keep, records)  # type: ignore[arg-type,assignment]
        groups = grouping.cull(records, cull_keys)
        n_records = sum(group.times for group in groups)
        n_pages = sum(group.pages for group in groups)
        warn.close()
        if join.missing:
            print(
                f"note: {join.missing_records} records ({join.missing_pages} pages) carry {len(join.missing)} "
                "handle(s) not in show_stacks_handles (early-allocated pages always do); grouped by handle",
                file=sys.stderr,
            )
        if not sort_spec:
            sort_spec = [("pages", True)] if kind == detect.STACKS else [("times", True)]
        grouping.sort_groups(groups, sort_spec)
        if args.top is not None:
            groups = groups[: args.top]
        out = sys.stdout if args.output == "-" else stack.enter_context(open(args.output, "w"))
        shown = _shown_fields(cull_keys, args)
        if args.format == "json":
            json.dump([_json_group(g, shown) for g in groups], out, indent=1)
            out.write("\n")
        else:
            out.write(
                f"# {kind}: {n_records} records, {n_pages} pages ({n_pages * PAGE_SIZE / MIB:.3f} MiB)"
                + (f", {warn.count} malformed records skipped" if warn.count else "")
                + "\n"
            )
            for group in groups:
                out.write(_text_group(group, shown))
    return 0


def _shown_fields(cull_keys: tuple[str, ...], args: argparse.Namespace) -> tuple[str, ...]:
    """Like page_owner_sort: the cull keys, plus the fields a filter selected on (when culling)."""
    if not cull_keys:
        return ()
    shown = list(cull_keys)
    for name, given in (("pid", args.pid), ("tgid", args.tgid), ("comm", args.comm)):
        if given and name not in shown:
            shown.append(name)
    return tuple(shown)


_LABELS: dict[str, Callable[[object], str]] = {
    "pid": lambda v: f"PID {v}",
    "tgid": lambda v: f"TGID {v}",
    "comm": lambda v: f"task_comm_name: {v}",
    "allocator": lambda v: f"allocated by {v}",
    "memcg": lambda v: f"memcg {v}",
    "migratetype": lambda v: f"migratetype {v}",
    "swapped": lambda v: "swapped" if v else "not swapped",
    "order": lambda v: f"order {v}",
}


def _frames_text(stack: object) -> str:
    if isinstance(stack, tuple):
        return "".join(f" {frame}\n" for frame in stack)
    if stack is None:
        return ""
    return f" (no frames: handle {stack} not in show_stacks_handles)\n"


def _text_group(group: Group, shown: tuple[str, ...]) -> str:
    head = f"{group.times} times, {group.pages} pages, {group.mib:.3f} MiB"
    if shown:
        parts = [head]
        parts += [_LABELS[name](group.value(name)) for name in shown if name != "stacktrace"]
        text = ", ".join(parts)
        if "stacktrace" in shown:
            return f"{text}:\n{_frames_text(group.value('stacktrace'))}\n"
        return text + "\n"
    return f"{head}:\n{_record_text(group.sample)}\n"


def _record_text(record: object) -> str:
    """A record as the kernel printed it, without its timestamp and PFN/SWP entry lines."""
    if isinstance(record, PageOwnerRecord):
        lines = [
            f"Page allocated via order {record.order}, mask {record.gfp_mask:#x}({record.gfp_flags}), "
            f"pid {record.pid}, tgid {record.tgid} ({record.comm})" + (" (swapped)" if record.swapped else "")
        ]
        body = _frames_text(record.stack if record.stack else record.handle)
        if record.migrate_reason is not None:
            body += f"Page has been migrated, last migrate reason: {record.migrate_reason}\n"
        if record.slab_cache:
            body += "Slab cache page\n"
        if record.memcg is not None:
            memcg = record.memcg
            body += (
                f"Charged {'(via objcg) ' if memcg.via_objcg else ''}to "
                f"{'offline ' if memcg.offline else ''}memcg {memcg.name}\n"
            )
        return lines[0] + "\n" + body
    if isinstance(record, SwapPageOwnerRecord):
        mask = "" if record.gfp_mask is None else f"order 0, mask {record.gfp_mask:#x}({record.gfp_flags}), "
        head = f"Page allocated via {mask}pid {record.pid}, tgid {record.tgid} ({record.comm})\n"
        return head + _frames_text(record.stack if record.stack else record.handle)
    if isinstance(record, StackRecord):
        text = _frames_text(record.stack)
        return text + (f"handle: {record.handle}\n" if record.handle is not None else "")
    return ""


def _json_group(group: Group, shown: tuple[str, ...]) -> dict:
    item: dict[str, object] = {"times": group.times, "pages": group.pages, "mib": round(group.mib, 6)}
    if group.first_ts is not None:
        item["first_ts"] = group.first_ts
    if shown:
        for name in shown:
            item[name] = _json_value(group.value(name))
        return item
    record = group.sample
    if isinstance(record, PageOwnerRecord):
        item.update(order=record.order, gfp_mask=record.gfp_mask, gfp_flags=record.gfp_flags)
    if not isinstance(record, StackRecord):
        item.update(pid=record.pid, tgid=record.tgid, comm=record.comm)
    if isinstance(record, PageOwnerRecord):
        item.update(
            swapped=record.swapped,
            migrate_reason=record.migrate_reason,
            memcg=record.memcg_key,
        )
    item["stacktrace"] = _json_value(record.stack if record.stack else record.handle)
    if record.handle is not None:
        item["handle"] = record.handle
    return item


def _json_value(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.results.parse")
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except HarnessError as error:
        print(f"parse: error: {error}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # `| head`: the reader is gone; exit quietly like other filters.
        sys.stderr.close()
        return 0
