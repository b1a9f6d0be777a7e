"""The byte-level parts of Shell.stream: inflating, splitting lines, the in-band exit status."""

import secrets
import zlib
from dataclasses import dataclass
from typing import Iterable, Iterator


@dataclass
class StreamCounts:
    """How much a stream carried, for the log and the timeout message."""
    lines: int = 0
    bytes: int = 0  # as received (gzipped when compressed)


def gunzip(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Inflate a gzip stream chunk by chunk (raises zlib.error when it is corrupt)."""
    inflate = zlib.decompressobj(wbits=31)
    for data in chunks:
        yield inflate.decompress(data)
    yield inflate.flush()


def split_lines(chunks: Iterable[bytes], counts: StreamCounts | None = None) -> Iterator[bytes]:
    """Lines (without newlines) of a byte stream; a last line without a newline too."""
    pending = b""
    for data in chunks:
        *complete, pending = (pending + data).split(b"\n")
        if counts is not None:
            counts.lines += len(complete)
        yield from complete
    if pending:
        if counts is not None:
            counts.lines += 1
        yield pending


@dataclass
class InBandStatus:
    """A command's exit status sent after its output, as a last line with a fresh nonce
    (the status of `cmd | gzip` would be gzip's)."""

    marker: str
    remote: str  # the command line that prints the status line and gzips it all
    status: int | None = None

    class Missing(Exception):
        """The output ended without the status line."""

    @classmethod
    def wrap(cls, text: str) -> "InBandStatus":
        marker = f"mmharness-status-{secrets.token_hex(8)}"
        return cls(marker, f"{{ {text}; echo {marker} $?; }} | gzip -1")

    def strip(self, lines: Iterable[bytes]) -> Iterator[bytes]:
        """The lines but the last, which carries the status (kept in `status`)."""
        held: bytes | None = None  # the last line may be the status: hold one back
        for line in lines:
            if held is not None:
                yield held
            held = line
        before, found, number = (held or b"").rpartition(self.marker.encode() + b" ")
        if not found or not number.strip().isdigit():
            raise self.Missing(self.marker)
        if before:  # the output did not end with a newline
            yield before
        self.status = int(number)
