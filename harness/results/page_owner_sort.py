"""tools/mm/page_owner_sort, built by the kernel tree's own Makefile from a copy of its tools/.

The cached tree is shared and read-only, so what the build reads is copied
first: tools/mm's Makefile includes tools/scripts and links every tool there
against tools/lib/api, which builds with tools/build and tools/include and
compiles tools/lib/*.c. Building takes about a second.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from harness.errors import HarnessError
from harness.proc import require_tools, run

COPIED = ("tools/mm", "tools/scripts", "tools/build", "tools/include", "tools/lib/api")


def build_page_owner_sort(tree: Path, work: Path, patches: tuple[Path, ...] = ()) -> Path:
    """Copy what the build needs from `tree` into `work`, apply `patches` (git format-patch files that
    touch tools/ only, e.g. a series' page_owner_sort patch), run `make page_owner_sort`; the binary's path."""
    tree, work = Path(tree), Path(work)
    source = tree / "tools/mm/page_owner_sort.c"
    if not source.is_file():
        raise HarnessError(f"{source} not found", hint="give the top of a Linux source tree (4.4 or later)")
    require_tools("make", "gcc", purpose="building tools/mm/page_owner_sort")
    for part in COPIED:
        shutil.copytree(tree / part, work / part, dirs_exist_ok=True)
    for c_file in (tree / "tools/lib").glob("*.c"):
        shutil.copy2(c_file, work / "tools/lib" / c_file.name)
    for patch in patches:
        run(["git", "apply", "--include=tools/*", str(Path(patch).resolve())], what=f"git apply {Path(patch).name}",
            cwd=work, log=work / "page_owner_sort-build.log")
    run(["make", "-s", "-C", str(work / "tools/mm"), "page_owner_sort"], what="building page_owner_sort",
        log=work / "page_owner_sort-build.log")
    return work / "tools/mm/page_owner_sort"
