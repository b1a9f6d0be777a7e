"""Opening dumps: a path or '-' for stdin, gzip or xz recognised by suffix or magic bytes."""

from __future__ import annotations

import gzip
import io
import lzma
import sys
from pathlib import Path
from typing import BinaryIO

from harness.errors import HarnessError

_GZIP_MAGIC = b"\x1f\x8b"
_XZ_MAGIC = b"\xfd7zXZ\x00"


def open_dump(name: str | Path) -> BinaryIO:
    """A binary stream of the dump's text; the parsers decode it as UTF-8 in chunks."""
    if str(name) == "-":
        raw: BinaryIO = sys.stdin.buffer
        label = "stdin"
    else:
        path = Path(name)
        try:
            raw = open(path, "rb")  # noqa: SIM115 - returned to the caller
        except OSError as error:
            raise HarnessError(f"cannot read {path}: {error.strerror}") from None
        label = str(path)
    if not hasattr(raw, "peek"):
        raw = io.BufferedReader(raw)  # type: ignore[arg-type]
    magic = raw.peek(6)[:6]  # type: ignore[attr-defined]
    suffix = "" if label == "stdin" else Path(label).suffix
    if suffix == ".gz" or magic.startswith(_GZIP_MAGIC):
        return _Checked(gzip.GzipFile(fileobj=raw, mode="rb"), label)  # type: ignore[return-value]
    if suffix == ".xz" or magic.startswith(_XZ_MAGIC):
        return _Checked(lzma.LZMAFile(raw, mode="rb"), label)  # type: ignore[return-value]
    return raw


class _Checked(io.RawIOBase):
    """Turns a corrupt compressed stream into a HarnessError naming the file."""

    def __init__(self, stream: BinaryIO, label: str):
        self._stream = stream
        self._label = label

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        try:
            return self._stream.read(size)
        except (OSError, EOFError, lzma.LZMAError) as error:
            raise HarnessError(f"cannot decompress {self._label}: {error}") from None

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._stream.close()
        super().close()
