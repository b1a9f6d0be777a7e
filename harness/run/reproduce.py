"""reproduce.sh: boot a test's kernel again by hand, as the test booted it.

Written into each test's results directory (and each boot of the `boot`
fixture): `mmharness boot` with the test's manifest, build, kernel command
line, memory, vCPUs and disks, on the same guest image (the manifest's). Run
it as it is for an ssh session into the guest, or with `-- COMMAND` to run a
command there, e.g. the ones in commands.log next to it.
"""

import shlex
from pathlib import Path

from harness.paths import REPO_ROOT
from harness.run.machine_spec import MachineSpec

FILE = "reproduce.sh"


def boot_arguments(manifest: str, label: str, spec: MachineSpec) -> list[str]:
    args = ["boot", "-m", manifest, "--label", label, "--cmdline", spec.cmdline,
            "--memory", str(spec.memory_mb), "--cpus", str(spec.cpus)]
    if not spec.disks:
        args.append("--no-disks")
    for disk in spec.disks:
        args += ["--disk", f"{disk.size_mb},swap" if disk.swap else str(disk.size_mb)]
    return args


def script(manifest: str, label: str, spec: MachineSpec, repo: Path = REPO_ROOT) -> str:
    command = " ".join(shlex.quote(arg) for arg in boot_arguments(manifest, label, spec))
    mmharness = shlex.quote(str(repo / ".venv" / "bin" / "mmharness"))
    return ("#!/bin/sh\n"
            f"# Boot {manifest} {label} as this test did; add -- COMMAND to run COMMAND in the guest.\n"
            f'exec "${{MMHARNESS:-{mmharness}}}" {command} "$@"\n')


def write(directory: Path, manifest: str, label: str, spec: MachineSpec) -> Path:
    path = directory / FILE
    directory.mkdir(parents=True, exist_ok=True)
    path.write_text(script(manifest, label, spec))
    path.chmod(0o755)
    return path
