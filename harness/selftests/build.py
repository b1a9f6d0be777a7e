"""Build selftests on the host from the kernel tree under test, statically linked.

The tree's UAPI headers are made with `make headers O=...` (the tree itself
is never written to; headers_install would also need rsync), and the
selftests' sources (SELFTEST_DIRS, TREE_PATHS) are copied to a scratch
directory, because the selftests Makefiles write generated files
(mm/local_config.mk) next to their sources. The binaries are linked with
-static so they need no libraries in the guest; only getaddrinfo (the
socket case of test_memcontrol) loads the guest's NSS modules at run time,
which ld warns about and which works when the guest's glibc is the host's
(both Debian 12 here). The result is cached
by the tree's identity, the targets and the compiler, and packed into one
tar.gz that the guest unpacks (harness.selftests.guest).
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness import locks, paths
from harness.build.pipeline import Say
from harness.errors import HarnessError
from harness.proc import require_tools, run

FORMAT = 1  # bump when the way of building changes, to rebuild every cache entry


@dataclass(frozen=True)
class SelftestsBuild:
    tree_identity: str
    directory: Path  # the cache entry
    targets: tuple[str, ...]  # SUITE/BINARY
    archive: Path  # SUITE/BINARY for every target, in a tar.gz
    seconds: float  # how long building took when the entry was made
    cached: bool

    def binary(self, target: str) -> Path:
        return self.directory / "install" / target


def _compiler() -> str:
    return run(["gcc", "--version"], what="gcc --version").stdout.splitlines()[0]


def cache_key(tree_identity: str, targets: Sequence[str], compiler: str) -> str:
    text = json.dumps([FORMAT, tree_identity, sorted(targets), compiler])
    return hashlib.sha256(text.encode()).hexdigest()[:20]


# What the selftests of SUITES include from outside their own directory (each other's
# headers, tools/include, the kernel's mm/gup_test.h and include/vdso): a few MiB, not tools/.
SELFTEST_DIRS = ("cgroup", "clone3", "kselftest", "mm", "pidfd", "x86")
TREE_PATHS = ("tools/include", "tools/arch/x86", "tools/scripts", "include/vdso", "mm/gup_test.h")


def _copy_sources(tree: Path, source: Path) -> None:
    if source.exists():
        shutil.rmtree(source)
    selftests = tree / "tools/testing/selftests"
    (source / "tools/testing/selftests").mkdir(parents=True)
    for item in selftests.iterdir():
        if item.is_file():
            shutil.copy2(item, source / "tools/testing/selftests" / item.name)
    for name in SELFTEST_DIRS:
        if (selftests / name).is_dir():
            shutil.copytree(selftests / name, source / "tools/testing/selftests" / name, symlinks=True)
    for relative in TREE_PATHS:
        origin, copy = tree / relative, source / relative
        copy.parent.mkdir(parents=True, exist_ok=True)
        if origin.is_dir():
            shutil.copytree(origin, copy, symlinks=True)
        elif origin.is_file():
            shutil.copy2(origin, copy)


def _make(source: Path, out: Path, headers: Path, suite: str, binaries: list[str], log: Path) -> None:
    suite_dir = source / "tools/testing/selftests" / suite
    if not suite_dir.is_dir():
        raise HarnessError(f"{suite_dir}: no such selftests directory in the tree",
                           hint="check the suite names in harness/selftests/programs.yaml")
    output = out / suite
    output.mkdir(parents=True, exist_ok=True)
    run(["make", "-C", str(suite_dir), f"OUTPUT={output}", "ARCH=x86_64",
         f"KHDR_INCLUDES=-isystem {headers / 'usr/include'}", "LDFLAGS=-static",
         *(str(output / binary) for binary in binaries)],
        what=f"make selftests/{suite} {' '.join(binaries)}", log=log)


def _pack(install: Path, archive: Path, targets: Sequence[str]) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for target in targets:
            tar.add(install / target, arcname=target)
    archive.write_bytes(buffer.getvalue())


def build(tree: Path, tree_identity: str, targets: Sequence[str], say: Say = locks.print_now) -> SelftestsBuild:
    """The targets (SUITE/BINARY) built from `tree`, from the cache or now."""
    require_tools("make", "gcc", purpose="building the kernel's selftests")
    targets = tuple(sorted(set(targets)))
    key = cache_key(tree_identity, targets, _compiler())
    directory = paths.cache_dir("selftests", key)
    metadata = directory / "metadata.json"
    archive = directory / "selftests.tar.gz"
    with locks.exclusive(locks.lock_file(directory), f"selftests build {key}", say):
        if metadata.is_file() and archive.is_file():
            seconds = json.loads(metadata.read_text()).get("seconds", 0.0)
            return SelftestsBuild(tree_identity, directory, targets, archive, seconds, cached=True)
        started = time.monotonic()
        log = directory / "build.log"
        log.write_text("")
        source, out, headers, install = (directory / name for name in ("src", "out", "headers", "install"))
        say(f"selftests: UAPI headers from {tree}")
        run(["make", "-C", str(tree), f"O={headers}", "ARCH=x86_64", "headers"], what="make headers", log=log)
        _copy_sources(tree, source)
        by_suite: dict[str, list[str]] = {}
        for target in targets:
            suite, _, binary = target.partition("/")
            by_suite.setdefault(suite, []).append(binary)
        for suite, binaries in by_suite.items():
            say(f"selftests: building {suite}: {' '.join(binaries)}")
            _make(source, out, headers, suite, binaries, log)
        for target in targets:
            (install / target).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(out / target, install / target)
        _pack(install, archive, targets)
        shutil.rmtree(source)  # the copied sources; the binaries, headers and the log stay
        seconds = round(time.monotonic() - started, 1)
        metadata.write_text(json.dumps({"tree_identity": tree_identity, "targets": list(targets),
                                        "compiler": _compiler(), "seconds": seconds,
                                        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}, indent=2))
        say(f"selftests: built {len(targets)} programs in {seconds:.1f} s -> {directory}")
        return SelftestsBuild(tree_identity, directory, targets, archive, seconds, cached=False)
