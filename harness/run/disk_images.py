"""The image files of a machine's extra disks: sparse, and formatted as swap where the spec says."""

from collections.abc import Sequence
from pathlib import Path

from harness.proc import run
from harness.run.machine_spec import Disk


def make_disk_images(disks: Sequence[Disk], directory: Path) -> list[Path]:
    files = []
    for index, disk in enumerate(disks):
        path = directory / f"disk{index}.img"
        with path.open("wb") as handle:
            handle.truncate(disk.size_mb << 20)
        if disk.swap:
            run(["mkswap", str(path)], what=f"mkswap for extra disk {Disk.device(index)}")
        files.append(path)
    return files
