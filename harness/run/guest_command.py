"""A command in the guest and what it returned; GuestShell, what workloads and snapshots need of a shell.

Free of paramiko, so fakes in unit tests and the openssh helpers need not load it.
"""

import shlex
from dataclasses import dataclass
from typing import Iterator, Protocol, Sequence

from harness.errors import HarnessError

USER = "root"


class CommandFailed(HarnessError):
    """A guest command ran and exited with a non-zero status."""

    def __init__(self, message: str, status: int, artifacts: list[str] | None = None):
        super().__init__(message, artifacts=artifacts)
        self.status = status


@dataclass(frozen=True)
class CommandResult:
    command: str
    stdout: str
    stderr: str
    status: int  # -1 when the command ended without an exit status (killed by a signal)
    seconds: float

    @property
    def ok(self) -> bool:
        return self.status == 0


def quote_command(command: Sequence[str] | str) -> str:
    """A shell command line: strings are used as they are, argv lists are quoted."""
    if isinstance(command, str):
        return command
    if not command:
        raise ValueError("empty command")
    return " ".join(shlex.quote(str(arg)) for arg in command)

def output_tail(data: str, lines: int = 20) -> str:
    kept = data.rstrip("\n").splitlines()[-lines:]
    return "\n      ".join(kept) if kept else "(nothing)"


class GuestShell(Protocol):
    """What workloads and snapshots need of a shell: Shell, or a fake in unit tests."""

    def run(self, command: Sequence[str] | str, timeout: float = ...) -> CommandResult: ...
    def check(self, command: Sequence[str] | str, timeout: float = ...) -> CommandResult: ...
    def stream(self, command: Sequence[str] | str, timeout: float = ..., *,
               compressed: bool = ...) -> Iterator[str]: ...
    def stream_lines(self, path: str, timeout: float = ...) -> Iterator[str]: ...
