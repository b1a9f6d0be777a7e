"""Running host tools: check they exist first, keep their output on failure."""

import shutil
import subprocess
from pathlib import Path
from typing import Sequence

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
) -> subprocess.CompletedProcess:
    """Run a command (argv list, never a shell string); on failure raise with its output."""
    result = subprocess.run(
        list(cmd), cwd=cwd, env=env, capture_output=True, text=True, errors="replace"
    )
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
