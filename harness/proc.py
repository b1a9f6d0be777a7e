"""Running host tools: check they exist first, keep their output on failure."""

import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, Sequence

from harness.errors import HarnessError

# Which Debian package provides a tool, for the "what to do" part of an error.
TOOL_PACKAGES = {
    "apt-get": "apt",
    "dpkg-deb": "dpkg",
    "git": "git",
    "make": "make",
    "gcc": "gcc",
    "flex": "flex",
    "bison": "bison",
    "bc": "bc",
    "tar": "tar",
    "xz": "xz-utils",
    "ccache": "ccache",
    "mmdebstrap": "mmdebstrap",
    "mke2fs": "e2fsprogs",
    "ssh-keygen": "openssh-client",
    "qemu-system-x86_64": "qemu-system-x86",
    "perl": "perl",
    "pahole": "dwarves",
}


def require_tools(*tools: str, purpose: str) -> None:
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        packages = sorted({TOOL_PACKAGES.get(t, t) for t in missing})
        raise HarnessError(
            f"{purpose} needs {', '.join(missing)}, which is not installed",
            hint=f"run `make setup` or `apt-get install {' '.join(packages)}`",
        )


def run(
    cmd: Sequence[str],
    *,
    cwd: Path | None = None,
    what: str,
    env: dict[str, str] | None = None,
    log: Path | None = None,
    check: bool = True,
    while_running: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess:
    """Run a command (argv list, never a shell string); on failure raise with its output.

    `while_running` is called about every half second until the command exits
    (to update a progress line)."""
    if while_running is None:
        result = subprocess.run(
            list(cmd), cwd=cwd, env=env, capture_output=True, text=True, errors="replace"
        )
    else:
        result = _run_polling(cmd, cwd, env, while_running)
    return _checked(cmd, result, what=what, log=log, check=check)


def _run_polling(cmd: Sequence[str], cwd: Path | None, env: dict[str, str] | None,
                 while_running: Callable[[], None]) -> subprocess.CompletedProcess:
    with subprocess.Popen(list(cmd), cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, errors="replace") as process:
        while True:
            try:
                # Retrying after the timeout loses no output (subprocess documents it).
                stdout, stderr = process.communicate(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                while_running()
            except BaseException:  # interrupted: the command must not outlive us
                process.kill()
                raise
    return subprocess.CompletedProcess(list(cmd), process.returncode, stdout, stderr)


def run_fed(cmd: Sequence[str], data: BinaryIO, *, what: str, cwd: Path | None = None,
            on_chunk: Callable[[int], None] = lambda size: None,
            chunk_size: int = 1 << 20) -> subprocess.CompletedProcess:
    """Run a command with `data` copied to its stdin, calling `on_chunk(bytes)` per chunk
    written (how far the command has read, for a progress line); raise as `run` does."""
    with tempfile.TemporaryFile() as output:
        with subprocess.Popen(list(cmd), cwd=cwd, stdin=subprocess.PIPE, stdout=output,
                              stderr=subprocess.STDOUT) as process:
            assert process.stdin is not None
            try:
                while chunk := data.read(chunk_size):
                    process.stdin.write(chunk)
                    on_chunk(len(chunk))
            except BrokenPipeError:  # the command stopped reading: its output says why
                pass
            except BaseException:
                process.kill()
                raise
            finally:
                try:
                    process.stdin.close()
                except BrokenPipeError:
                    pass
            process.wait()
        output.seek(0)
        text = output.read().decode(errors="replace")
    return _checked(cmd, subprocess.CompletedProcess(list(cmd), process.returncode, text, ""),
                    what=what, log=None, check=True)


def _checked(cmd: Sequence[str], result: subprocess.CompletedProcess, *, what: str,
             log: Path | None, check: bool) -> subprocess.CompletedProcess:
    if log is not None:
        with log.open("a") as out:
            out.write(f"$ {' '.join(cmd)}\n{result.stdout}{result.stderr}\n")
    if check and result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-15:]
        raise HarnessError(
            f"{what} failed (exit {result.returncode}): {' '.join(cmd)}\n    "
            + "\n    ".join(tail),
            artifacts=[str(log)] if log else [],
        )
    return result
