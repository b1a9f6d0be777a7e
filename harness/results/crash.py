"""Kernel crash reports in console output, with the patterns syzkaller and KUnit use."""

import re
from dataclasses import dataclass

# Most specific first: a KASAN or KFENCE report also starts with "BUG:", a
# lockdep report with "WARNING:", a soft lockup with "watchdog: BUG:", and
# the first pattern a line matches names its kind.
# A pattern with a group named "title" makes that group the report's title.
PATTERNS: list[tuple[str, re.Pattern]] = [(kind, re.compile(rx)) for kind, rx in [
    ("KASAN", r"\bKASAN: "),
    ("UBSAN", r"\bUBSAN: "),
    # mm/kfence/report.c: "BUG: KFENCE: out-of-bounds read in f+0x1/0x2",
    # "use-after-free", "memory corruption", "invalid read", "invalid free".
    ("KFENCE", r"\bBUG: KFENCE: "),
    # kernel/locking/lockdep.c: each report's pr_warn("WARNING: ...") title
    # (PROVE_LOCKING, PROVE_RCU); not the plain WARN() "WARNING: CPU: ...".
    ("lockdep", r"\bWARNING: (?:possible circular locking dependency detected"
                r"|possible recursive locking detected|suspicious RCU usage"
                r"|inconsistent lock state|possible irq lock inversion dependency detected"
                r"|\S+-safe -> \S+-unsafe lock order detected|bad unlock balance detected"
                r"|held lock freed|lock held when returning to user space"
                r"|Nested lock was not taken|\S+/\d+ still has locks held"
                r"|chain_key collision|bad contention detected)"),
    # lib/list_debug.c (DEBUG_LIST): the message comes before WARN()'s
    # "WARNING: CPU: ... at lib/list_debug.c", e.g. "list_add corruption.
    # next->prev should be prev (...)" or "list_del corruption, ...->next is
    # LIST_POISON1 (...)".
    ("list corruption", r"\blist_(?:add|del) corruption[.,] "),
    ("soft lockup", r"soft lockup - CPU#"),
    # "NMI watchdog: Watchdog detected hard LOCKUP on cpu 1" (perf) or
    # "watchdog: CPU0: Watchdog detected hard LOCKUP on cpu 1" (buddy, 6.x).
    ("hard lockup", r"Watchdog detected hard LOCKUP on cpu \d+"),
    ("hung task", r"INFO: task \S.* blocked for more than \d+ seconds"),
    ("rcu stall", r"rcu: INFO: \S+ (self-)?detected stall"),
    ("general protection fault", r"general protection fault"),
    ("stack segment fault", r"\bstack segment: [0-9a-f]{4} \[#\d+\]"),
    ("Unable to handle kernel", r"Unable to handle kernel"),
    ("Kernel panic", r"Kernel panic - not syncing"),
    ("bad page state", r"\bBUG: Bad page state\b"),
    ("bad rss-counter state", r"\bBUG: Bad rss-counter state\b"),
    # kmemleak's scan ("kmemleak: 2 new suspected memory leaks (see ...)"),
    # and each leaked object when kmemleak is verbose or its debugfs file is
    # printed ("unreferenced object 0xffff888004a1c000 (size 64):", 6.x adds
    # " (percpu)" or " (phys)" after "object").
    ("memory leak", r"kmemleak: \d+ new suspected memory leaks?\b"
                    r"|\bunreferenced object(?: \(\w+\))? 0x[0-9a-f]+ \(size \d+\):"),
    # mm/swapfile.c: a swap entry whose device or offset does not exist or is
    # not in use: "swap_info_get: Bad swap offset entry 0400a000",
    # "get_swap_device: Bad swap file entry 3ffffffffffff", "_swap_info_get: Unused ...".
    ("bad swap entry", r"\b(?:Bad|Unused) swap (?:file|offset) entry\b"),
    # mm/oom_kill.c pagefault_out_of_memory(): an OOM from a page fault no
    # handler took care of.
    ("VM_FAULT_OOM leak", r"Huh VM_FAULT_OOM leaked out to the #PF handler"),
    ("BUG", r"\bBUG: |kernel BUG at "),
    ("WARNING", r"\bWARNING: "),
    ("Oops", r"\bOops\b"),
    # warn_alloc(): an allocation without __GFP_NOWARN failed. It prints a
    # Call Trace but is no kernel bug by itself (see NOT_FATAL).
    ("page allocation failure", r"page allocation failure: order:\d+"),
    # warn_alloc() too, every 10 s an allocation keeps retrying: "DD: page
    # allocation stall for 30 secs: order:0, mode:0x140cca(...)". Slow reclaim
    # (a KASAN kernel under TCG), not a bug by itself.
    ("page allocation stall", r"page allocation stall for \d+ secs: order:\d+"),
    # The OOM killer at work: "perl invoked oom-killer: gfp_mask=..." opens
    # the report (Call Trace, Mem-Info, task list) and the kill closes it:
    # "Out of memory: Killed process 1234 (perl) total-vm:..." or
    # "Memory cgroup out of memory: Killed process ...".
    ("OOM kill", r"(?P<title>(?:Memory cgroup out of memory|Out of memory[^:]*): Killed process \d+ \(.*?\))"
                 r"|\binvoked oom-killer: "),
    ("Call Trace", r"\bCall Trace:"),
]]

# Reported (console, metadata, test output) but not a failure on their own:
# under the round trip's deliberate memory pressure, Linux 7.3 itself can fail
# an order-0 swap table allocation in kswapd (swap_cluster_alloc_table) and
# say so, and on the debug kernel DD's page cache allocations stall. An OOM kill is the kernel doing its job; tests that must not OOM
# check /proc/vmstat's oom_kill. Tests that want them fatal use
# `fatal(reports, strict=True)`.
NOT_FATAL = frozenset({"page allocation failure", "page allocation stall", "OOM kill"})

# An OOM report runs from "invoked oom-killer" to the kill, past the task list.
OOM_START = re.compile(r"\binvoked oom-killer: ")
OOM_KILL = PATTERNS[[kind for kind, _ in PATTERNS].index("OOM kill")][1]
OOM_AFTER = 1000
# dump_page() ("page: refcount:... " up to "page dumped because: REASON") may
# come just before the report it explains (VM_BUG_ON_FOLIO, VM_WARN_ON_FOLIO).
DUMP_PAGE_START = re.compile(r"\bpage: refcount:")
DUMP_PAGE_END = re.compile(r"\bpage dumped because: ")
DUMP_PAGE_BEFORE = 15

BEFORE = 5
AFTER = 40
# The kernel closes each report with "---[ end trace ... ]---" (or "end Kernel panic").
END_OF_REPORT = re.compile(r"---\[ end ")
# Anything up to the printk timestamp "[   12.345678]" and caller id "[    T1]"
# (a shell prompt on the console may precede a kernel line).
PREFIX = re.compile(r"^.*?\[\s*\d+\.\d+\]\s*(\[\s*[TC]\d+\]\s*)?")


@dataclass(frozen=True)
class CrashReport:
    kind: str  # the pattern's name, e.g. "BUG" or "Kernel panic"
    title: str  # the first matching line without its timestamp (an OOM kill: "... Killed process PID (COMM)")
    line: int  # 1-based line number in the scanned text
    excerpt: str  # a few lines before, up to AFTER lines after (or to the end marker)

    def __str__(self) -> str:
        return f"{self.kind} at console line {self.line}: {self.title}\n{self.excerpt}"


def match(line: str) -> tuple[str, re.Match] | None:
    """The crash kind a single console line starts and its match, or None."""
    for kind, pattern in PATTERNS:
        found = pattern.search(line)
        if found:
            return kind, found
    return None


def classify(line: str) -> str | None:
    """The crash kind a single console line starts, or None."""
    found = match(line)
    return found[0] if found else None


def _title(line: str, found: re.Match) -> str:
    if "title" in found.re.groupindex and found.group("title"):
        return found.group("title")
    return PREFIX.sub("", line).strip()


class Scanner:
    """Crash reports from console lines fed as they arrive; each line is examined once.

    A report is complete when its end marker (or an OOM kill) arrives or when
    enough lines followed it; `reports()` adds the ones still open as they
    stand, so it gives what `scan` of all lines so far gives. Only a window
    is kept: context lines before the next line to examine, and the lines of
    a report still open."""

    CONTEXT = max(BEFORE, DUMP_PAGE_BEFORE)

    def __init__(self, first_line: int = 1):
        self.first_line = first_line
        self.complete: list[CrashReport] = []
        self._window: list[str] = []
        self._base = 0  # index (from 0) of _window[0] among all lines fed
        self._next = 0  # the next line that may start a report
        self._covered = 0  # the first line not inside the last complete report

    @property
    def lines(self) -> int:
        return self._base + len(self._window)

    def feed(self, lines: list[str]) -> None:
        """Add complete lines (without newlines) and settle what they complete."""
        self._window.extend(line.rstrip("\r") for line in lines)
        reports, self._next, self._covered = self._scan(self._window, final=False)
        self.complete.extend(reports)
        keep_from = max(0, self._next - self.CONTEXT - self._base)
        if keep_from:
            del self._window[:keep_from]
            self._base += keep_from

    def reports(self, tail: str | None = None) -> list[CrashReport]:
        """Every report so far, the open ones cut at the last line (or at `tail`, a
        line not yet ended)."""
        window = self._window if tail is None else [*self._window, tail.rstrip("\r")]
        return self.complete + self._scan(window, final=True)[0]

    def _scan(self, window: list[str], final: bool) -> tuple[list[CrashReport], int, int]:
        base, index, covered = self._base, self._next, self._covered
        total = base + len(window)
        reports = []
        while index < total:
            found = match(window[index - base])
            if found is None:
                index += 1
                continue
            kind, matched = found
            title = _title(window[index - base], matched)
            if OOM_START.search(window[index - base]):
                end, kill, settled = _oom_end(window, base, index)
                title = kill or title
            else:
                end, settled = _report_end(window, base, index)
            if not (settled or final):
                break
            start = _start(window, base, index, covered)
            reports.append(CrashReport(
                kind=kind, title=title, line=self.first_line + index,
                excerpt="\n".join(window[start - base:end - base]).rstrip("\n")))
            covered = index = end
        return reports, index, covered


def _report_end(lines: list[str], base: int, index: int) -> tuple[int, bool]:
    """(end, settled) of the report opened at `index`: its end marker, else AFTER lines."""
    total = base + len(lines)
    end = min(total, index + AFTER + 1)
    for later in range(index + 1, end):
        if END_OF_REPORT.search(lines[later - base]):
            return later + 1, True
    return end, index + AFTER + 1 <= total


def _oom_end(lines: list[str], base: int, index: int) -> tuple[int, str | None, bool]:
    """(end, kill title, settled) of the OOM report opened at `index`: up to the kill
    line, stopping before any fatal report inside it, so that none hides in a notice."""
    total = base + len(lines)
    for later in range(index + 1, min(total, index + OOM_AFTER + 1)):
        kill = OOM_KILL.search(lines[later - base])
        if kill and kill.group("title"):
            return later + 1, kill.group("title"), True
        kind = classify(lines[later - base])
        if kind not in (None, "Call Trace", *NOT_FATAL):
            return later, None, True
    return min(total, index + AFTER + 1), None, index + OOM_AFTER + 1 <= total


def _start(lines: list[str], base: int, index: int, floor: int) -> int:
    """First line of the excerpt: BEFORE lines of context, or back to the start of
    a dump_page() that ends just before the report ("page dumped because: ..."),
    not reaching into the previous report (which ends before `floor`)."""
    start = max(base, index - BEFORE)
    lowest = max(floor, base, index - DUMP_PAGE_BEFORE)
    for before in range(index - 1, lowest - 1, -1):
        if DUMP_PAGE_END.search(lines[before - base]):
            for first in range(before, lowest - 1, -1):
                if DUMP_PAGE_START.search(lines[first - base]):
                    return min(start, first)
            break
    return start


def scan(text: str, first_line: int = 1) -> list[CrashReport]:
    """Every crash report in `text`; lines inside a report do not start another."""
    scanner = Scanner(first_line)
    scanner.feed(text.split("\n"))
    return scanner.reports()


def fatal(reports: list[CrashReport], strict: bool = False) -> list[CrashReport]:
    return list(reports) if strict else [r for r in reports if r.kind not in NOT_FATAL]


def notices(reports: list[CrashReport]) -> list[CrashReport]:
    return [r for r in reports if r.kind in NOT_FATAL]


def panicked(text: str) -> bool:
    return "Kernel panic - not syncing" in text


def summary(reports: list[CrashReport], limit: int = 3) -> str:
    """A short text for error messages: titles and the first excerpt."""
    if not reports:
        return ""
    titles = "\n".join(f"  - {r.kind}: {r.title} (console line {r.line})" for r in reports[:limit])
    more = f"\n  ... and {len(reports) - limit} more" if len(reports) > limit else ""
    return f"{titles}{more}\n--- first report ---\n{reports[0].excerpt}"
