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
    pending = ""
    for chunk in _decoded(iter(lambda: reader.read(CHUNK), _EOF)):
        lines = (pending + chunk).split("\n")
        pending = lines.pop()
        for line in lines:
            yield line + "\n"
    if pending:
        yield pending


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
        if "\r\n" in chunk:
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
    pending = ""
    for chunk in _decoded(chunks):
        parts = (pending + chunk if pending else chunk).split("\n\n")
        pending = parts.pop()
        for part in parts:
            if part.startswith("\n"):  # more than one blank line
                stripped = part.lstrip("\n")
                lineno += len(part) - len(stripped)
                part = stripped
            if part:
                yield lineno, part
                lineno += part.count("\n") + 2
            else:
                lineno += 1
    if pending.startswith("\n"):
        stripped = pending.lstrip("\n")
        lineno += len(pending) - len(stripped)
        pending = stripped
    pending = pending.rstrip("\n")
    if pending:
        yield lineno, pending


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
    first = block[0]
    if not first.endswith("\n"):
        text = "\n".join(block)
    else:
        text = "".join(block)
        if first.endswith("\r\n"):
            text = text.replace("\r\n", "\n")
    return text.rstrip("\n")
