"""Loopback TCP ports for the guests' SSH forwards, leased by lock files under the cache."""

import fcntl
import socket
from dataclasses import dataclass, field
from pathlib import Path

from harness import paths
from harness.errors import HarnessError


@dataclass
class PortLease:
    """A loopback TCP port reserved for one VM by a lock file under the cache."""
    port: int
    lock_file: object = field(repr=False, default=None)

    def release(self) -> None:
        if self.lock_file is not None:
            self.lock_file.close()
            self.lock_file = None


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _lock_port(port: int, lock_dir: Path):
    handle = open(lock_dir / f"{port}.lock", "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


def reserve_port(requested: int = 0, lock_dir: Path | None = None) -> PortLease:
    """A free port on 127.0.0.1. Locks keep parallel harness runs apart; a port
    some other program grabs before QEMU binds it makes boot retry (see Machine)."""
    lock_dir = lock_dir or paths.cache_dir("ports")
    if requested:
        handle = _lock_port(requested, lock_dir)
        if handle is None or not _port_free(requested):
            if handle:
                handle.close()
            raise HarnessError(f"port {requested} on 127.0.0.1 is already in use",
                               hint="choose another ssh_port, or 0 to pick a free one")
        return PortLease(requested, handle)
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        handle = _lock_port(port, lock_dir)
        if handle is not None:
            return PortLease(port, handle)
    raise HarnessError("no free TCP port on 127.0.0.1 for the guest's SSH forward")
