"""Cross-process locks on cache entries that several runs may share.

Two runs sharing a cache (pytest-xdist workers, two nightlies) must not build
the same guest, or run make in the same O= directory, at the same time. Each
such entry is guarded by flock(2) on a `.lock` file beside it; the holder
writes its pid there so a waiting run can say whom it waits for. The kernel
drops the lock when its holder exits, however it exits, so a killed run never
leaves a stale lock behind (a stale pid in the file is only ever shown while
somebody really holds the lock, and that somebody has overwritten it).
"""

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def print_now(text: str) -> None:
    print(text, flush=True)  # a run waiting for minutes must say so now, also into a pipe


def lock_file(directory: Path) -> Path:
    """The lock guarding a directory: a sibling `<name>.lock`, so it is never inside what it guards."""
    return directory.with_name(directory.name + ".lock")


def _acquire(fd: int, what: str, say: Callable[[str], None]) -> None:
    holder = ""
    for _ in range(100):  # a new holder writes its pid right after taking the lock: give it a moment
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
        if holder:
            break
        time.sleep(0.01)
    say(f"waiting for {what} held by {f'pid {holder}' if holder else 'another process'}")
    fcntl.flock(fd, fcntl.LOCK_EX)


@contextmanager
def exclusive(path: Path, what: str, say: Callable[[str], None] = print_now) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if missing); if another process holds it,
    say "waiting for WHAT held by pid N" and block until it is released.

    Locks are per open file: taking a lock this process already holds (through
    another `exclusive`) blocks for ever, so never nest two on the same path.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # no O_TRUNC: the holder's pid is in there
    try:
        _acquire(fd, what, say)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the lock
