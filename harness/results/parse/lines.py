"""Sources of text and the blank-line separated records every dump here is made of.

Two ways in, one result: a readable object (file, gzip/xz stream, stdin,
paramiko ChannelFile; str or bytes) is read in large chunks and split on
"\\n\\n" in C; any other iterable of lines (with or without their newline) is
grouped line by line. Either way a record comes out as one string, lines
joined by "\\n", with the 1-based number of its first line.

A blank line is an empty line ("\\n", "\\r\\n" or "" for lines without
newline); a last record without a trailing blank line is kept.
"""

from __future__ import annotations

import codecs
import io
import itertools
from typing import Iterable, Iterator, Protocol

CHUNK = 1 << 20


class Readable(Protocol):
    def read(self, size: int = -1, /) -> str | bytes: ...


LineSource = Readable | Iterable[str] | Iterable[bytes] | str | bytes


def as_lines(source: LineSource) -> Iterator[str]:
    """Text lines of any source, split on "\\n" only (bytes decoded as UTF-8 with replacement)."""
    if isinstance(source, (bytes, bytearray)):
        source = source.decode("utf-8", "replace")
    if isinstance(source, str):
        return iter(io.StringIO(source, newline="\n"))
    if callable(getattr(source, "read", None)):
        return _lines_of_reader(source)  # type: ignore[arg-type]
    it = iter(source)  # type: ignore[arg-type]
    first = next(it, None)
    if first is None:
        return iter(())
    if isinstance(first, (bytes, bytearray)):
        return (line.decode("utf-8", "replace") for line in itertools.chain((first,), it))
    return itertools.chain((first,), it)


def _lines_of_reader(reader: Readable) -> Iterator[str]:
    cutter = _Cutter("\n")
    for chunk in _decoded(iter(lambda: reader.read(CHUNK), _EOF)):
        for line in cutter.feed(chunk):
            yield line + "\n"
    last = cutter.rest()
    if last:
        yield last


class _Cutter:
    """Text cut at `separator` as its chunks arrive. The unfinished piece is kept in
    parts, so a huge one is not copied per chunk; the cut itself is str.split, in C."""

    def __init__(self, separator: str):
        self.separator = separator
        self._pending: list[str] = []

    def feed(self, chunk: str) -> list[str]:
        """The pieces this chunk completes (none, mostly, for a large piece)."""
        pending, separator = self._pending, self.separator
        # A two-character separator can begin at the end of one chunk and end in the next.
        straddles = (len(separator) > 1 and pending and pending[-1].endswith(separator[:-1])
                     and chunk.startswith(separator[-1]))
        pending.append(chunk)
        if not straddles and separator not in chunk:
            return []
        pieces = "".join(pending).split(separator)
        self._pending = [pieces.pop()]
        return pieces

    def rest(self) -> str:
        """What came after the last separator."""
        return "".join(self._pending)


def peek_lines(source: LineSource, count: int) -> tuple[list[str], LineSource]:
    """Up to `count` first lines, and a source equivalent to `source` with nothing consumed."""
    if isinstance(source, (bytes, bytearray)):
        source = source.decode("utf-8", "replace")
    if isinstance(source, str):
        return source[: count * 256].split("\n")[:count], source
    if callable(getattr(source, "read", None)):
        reader = _Replay(source)  # type: ignore[arg-type]
        head = reader.peek(count * 256)
        return head.split("\n")[:count], reader
    lines = as_lines(source)
    head = list(itertools.islice(lines, count))
    return head, itertools.chain(head, lines)


class _Replay:
    """A reader whose first bytes were already read (and decoded) to look at them."""

    def __init__(self, reader: Readable):
        self._chunks = _decoded(iter(lambda: reader.read(CHUNK), _EOF))
        self._head = ""

    def peek(self, size: int) -> str:
        while len(self._head) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._head += chunk
        return self._head

    def read(self, size: int = -1) -> str:
        if self._head:
            head, self._head = self._head, ""
            return head
        return next(self._chunks, "")


def _decoded(chunks: Iterator[str | bytes]) -> Iterator[str]:
    """str chunks, CRLF turned into LF, a multibyte character or CRLF never split."""
    decoder = None
    carry = ""
    for chunk in chunks:
        if not isinstance(chunk, str):
            if decoder is None:
                decoder = codecs.getincrementaldecoder("utf-8")("replace")
            chunk = decoder.decode(chunk)
        if carry:
            chunk = carry + chunk
            carry = ""
        if chunk.endswith("\r"):
            chunk, carry = chunk[:-1], "\r"
        if "\r" in chunk:  # one-character search: memchr, unlike a search for "\r\n"
            chunk = chunk.replace("\r\n", "\n")
        if chunk:
            yield chunk
    tail = carry + (decoder.decode(b"", final=True) if decoder is not None else "")
    if tail:
        yield tail


def iter_record_texts(source: LineSource) -> Iterator[tuple[int, str]]:
    """(line number of its first line, text) of each record."""
    if isinstance(source, (str, bytes, bytearray)):
        return _from_chunks(iter((source,)))
    read = getattr(source, "read", None)
    if callable(read):
        return _from_chunks(iter(lambda: read(CHUNK), _EOF))
    return _from_lines(as_lines(source))


class _Eof:
    """Sentinel equal to both end-of-file values, b"" and ""."""

    def __eq__(self, other: object) -> bool:
        return other == "" or other == b""

    __hash__ = None  # type: ignore[assignment]


_EOF = _Eof()


def _from_chunks(chunks: Iterator[str | bytes]) -> Iterator[tuple[int, str]]:
    lineno = 1
    cutter = _Cutter("\n\n")
    for chunk in _decoded(chunks):
        for part in cutter.feed(chunk):
            if part.startswith("\n"):  # more than one blank line
                stripped = part.lstrip("\n")
                lineno += len(part) - len(stripped)
                part = stripped
            if part:
                yield lineno, part
            lineno += part.count("\n") + 2  # its lines, then the blank line
    last = cutter.rest()
    stripped = last.lstrip("\n")
    lineno += len(last) - len(stripped)
    last = stripped.rstrip("\n")
    if last:
        yield lineno, last


def _from_lines(lines: Iterator[str]) -> Iterator[tuple[int, str]]:
    block: list[str] = []
    start = 0
    lineno = 0
    for lineno, line in enumerate(lines, 1):
        if line == "\n" or not line or line == "\r\n":
            if block:
                yield start, _join(block)
                block = []
        else:
            if not block:
                start = lineno
            block.append(line)
    if block:
        yield start, _join(block)


def _join(block: list[str]) -> str:
    text = "".join(block) if block[0].endswith("\n") else "\n".join(block)
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    return text.rstrip("\n")
