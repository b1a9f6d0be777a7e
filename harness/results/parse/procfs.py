"""procfs, sysfs and debugfs counters: /proc/swaps, meminfo, vmstat, `free -m`,
/sys/kernel/debug/zswap/*, /sys/block/*/stat, mTHP stats.

Text in, typed values out; malformed input raises ParseError naming the line.
Files with one value each (zswap, mTHP stats) come either as a mapping
path -> text, a directory on this machine, or the output of `grep -r . DIR`
run in the guest (one SSH command instead of one per file).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from pathlib import Path, PurePosixPath
from typing import Iterator, Mapping

from harness.results.parse.issues import ParseError, ParseIssue
from harness.results.parse.lines import LineSource, as_lines


def _numbered_lines(text: LineSource) -> Iterator[tuple[int, str]]:
    """(1-based line number, line) of each line that is not blank."""
    return ((lineno, line) for lineno, line in enumerate(as_lines(text), 1) if line.strip())


def _fail(lineno: int, message: str, line: str = "", source: str = "") -> ParseError:
    return ParseError(ParseIssue(lineno, message, line.rstrip("\r\n"), source))


def _int(text: str, lineno: int, line: str, source: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise _fail(lineno, f"not an integer: {text!r}", line, source) from None


# /proc/swaps (mm/swapfile.c swap_show): a header, then
# "%*s%s\t%lu\t%s%lu\t%s%d\n": path (seq_file_path escapes " \t\n\\" as \ooo),
# "partition" or "file\t", size and used in KiB, priority.
@dataclass(frozen=True, slots=True)
class SwapDevice:
    filename: str
    type: str
    size_kb: int
    used_kb: int
    priority: int

    @property
    def used_mib(self) -> float:
        return self.used_kb / 1024

    @property
    def size_mib(self) -> float:
        return self.size_kb / 1024


_OCTAL = re.compile(r"\\([0-7]{3})")


def parse_swaps(text: LineSource, *, source: str = "/proc/swaps") -> list[SwapDevice]:
    devices = []
    for lineno, line in _numbered_lines(text):
        if line.startswith("Filename"):
            continue
        parts = line.split()
        if len(parts) != 5:
            raise _fail(lineno, "expected: filename type size used priority", line, source)
        name = _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), parts[0])
        devices.append(
            SwapDevice(
                name,
                parts[1],
                _int(parts[2], lineno, line, source),
                _int(parts[3], lineno, line, source),
                _int(parts[4], lineno, line, source),
            )
        )
    return devices


def parse_meminfo(text: LineSource, *, source: str = "/proc/meminfo") -> dict[str, int]:
    """Name -> value as printed: KiB for the `kB` lines, counts for HugePages_*."""
    values = {}
    for lineno, line in _numbered_lines(text):
        name, sep, rest = line.partition(":")
        words = rest.split()
        if not sep or not name or not 1 <= len(words) <= 2 or (len(words) == 2 and words[1] != "kB"):
            raise _fail(lineno, "expected 'Name: value [kB]'", line, source)
        values[name.strip()] = _int(words[0], lineno, line, source)
    return values


def pcp_free_pages(text: LineSource, *, source: str = "/proc/zoneinfo") -> int:
    """Free pages on the per-cpu lists: the sum of the `count:` lines of every zone's pagesets.

    MemFree does not count them (mm/page_alloc.c moves them out of NR_FREE_PAGES), and with
    7.3's auto-tuned pcp->high they can hold tens of MiB after a burst of frees.
    """
    pages = 0
    for lineno, line in _numbered_lines(text):
        words = line.split()
        if words[0] == "count:":
            if len(words) != 2:
                raise _fail(lineno, "expected 'count: N'", line, source)
            pages += _int(words[1], lineno, line, source)
    return pages


def parse_vmstat(text: LineSource, *, source: str = "/proc/vmstat") -> dict[str, int]:
    values = {}
    for lineno, line in _numbered_lines(text):
        words = line.split()
        if len(words) != 2:
            raise _fail(lineno, "expected 'name value'", line, source)
        values[words[0]] = _int(words[1], lineno, line, source)
    return values


@dataclass(frozen=True, slots=True)
class FreeOutput:
    """`free -m` (or -k, -g, -w, -l, -t): row name -> column -> value, in the unit asked for.

    Rows: "Mem", "Swap", and with options "Low", "High", "Total"; procps 3.x's
    "-/+ buffers/cache" row has only used and free.
    """

    columns: tuple[str, ...]
    rows: dict[str, dict[str, int]]

    @property
    def mem(self) -> dict[str, int]:
        return self.rows["Mem"]

    @property
    def swap(self) -> dict[str, int]:
        return self.rows["Swap"]

    @property
    def total_minus_free(self) -> int:
        """What the cover letter compares page_owner's sum with."""
        return self.mem["total"] - self.mem["free"]


def parse_free(text: LineSource, *, source: str = "free") -> FreeOutput:
    columns: tuple[str, ...] = ()
    rows: dict[str, dict[str, int]] = {}
    for lineno, line in _numbered_lines(text):
        if not columns:
            columns = tuple(line.split())
            if "total" not in columns:
                raise _fail(lineno, "expected the header line of free", line, source)
            continue
        label, sep, rest = line.partition(":")
        if not sep:
            raise _fail(lineno, "expected 'Row: values'", line, source)
        label = label.strip()
        values = [_int(word, lineno, line, source) for word in rest.split()]
        names = ("used", "free") if label.startswith("-/+") else columns
        if not values or len(values) > len(names):
            raise _fail(lineno, f"{len(values)} values for {len(names)} columns", line, source)
        rows[label] = dict(zip(names, values))
    if "Mem" not in rows:
        raise _fail(1, "no 'Mem:' row", source=source)
    return FreeOutput(columns, rows)


# /sys/block/<dev>/stat: Documentation/block/stat.rst, block/genhd.c part_stat_show().
@dataclass(frozen=True, slots=True)
class BlockStat:
    read_ios: int
    read_merges: int
    read_sectors: int
    read_ticks: int
    write_ios: int
    write_merges: int
    write_sectors: int
    write_ticks: int
    in_flight: int
    io_ticks: int
    time_in_queue: int
    # Since 4.18 (discard) and 5.5 (flush); None when the kernel does not print them.
    discard_ios: int | None = None
    discard_merges: int | None = None
    discard_sectors: int | None = None
    discard_ticks: int | None = None
    flush_ios: int | None = None
    flush_ticks: int | None = None

    SECTOR = 512

    @property
    def read_bytes(self) -> int:
        return self.read_sectors * self.SECTOR

    @property
    def written_bytes(self) -> int:
        return self.write_sectors * self.SECTOR


_BLOCK_FIELDS = len(fields(BlockStat))


def parse_block_stat(text: str, *, source: str = "stat") -> BlockStat:
    words = text.split()
    if len(words) not in (11, 15, 17):
        raise _fail(1, f"expected 11, 15 or 17 fields, got {len(words)}", text, source)
    return BlockStat(*(_int(word, 1, text, source) for word in words))


def parse_grep_output(text: LineSource) -> dict[str, str]:
    """`grep -r . DIR` / `grep -H . FILES`: path -> value text."""
    values = {}
    for line in as_lines(text):
        path, sep, value = line.rstrip("\r\n").partition(":")
        if sep:
            values[path] = value
    return values


def read_files(directory: str | Path) -> dict[str, str]:
    """Regular files of a directory on this machine: path -> text (unreadable files skipped)."""
    values = {}
    for path in sorted(Path(directory).iterdir()):
        try:
            if path.is_file():
                values[str(path)] = path.read_text()
        except OSError:
            continue
    return values


def int_values(files: Mapping[str, str], *, source: str = "") -> dict[str, int]:
    """One integer per file, keyed by the file's base name (zswap debugfs: `%llu`)."""
    values = {}
    for path, text in files.items():
        name = PurePosixPath(path).name
        values[name] = _int(text.strip(), 1, text, source or path)
    return values


def parse_zswap(files: Mapping[str, str] | str | Path) -> dict[str, int]:
    """/sys/kernel/debug/zswap: a mapping path -> text, or the directory itself."""
    if isinstance(files, (str, Path)):
        files = read_files(files)
    return int_values(files)


_MTHP = re.compile(r"hugepages-(\d+)kB/stats/([^/]+)$")


def parse_mthp_stats(files: Mapping[str, str] | str | Path) -> dict[int, dict[str, int]]:
    """Size in KiB -> counter -> value, from paths `.../hugepages-<size>kB/stats/<counter>`.

    `files` is a mapping path -> text (e.g. parse_grep_output of
    `grep -r . /sys/kernel/mm/transparent_hugepage/hugepages-*/stats`), or the
    transparent_hugepage directory on this machine.
    """
    if isinstance(files, (str, Path)):
        root = Path(files)
        files = {}
        for stats in sorted(root.glob("hugepages-*kB/stats")):
            files.update(read_files(stats))
    sizes: dict[int, dict[str, int]] = {}
    for path, text in files.items():
        match = _MTHP.search(path)
        if match is None:
            continue
        size, name = int(match.group(1)), match.group(2)
        sizes.setdefault(size, {})[name] = _int(text.strip(), 1, text, path)
    return dict(sorted(sizes.items()))
