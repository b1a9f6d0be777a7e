"""Out-of-tree kernel builds, keyed by (tree, series, final .config, compiler).

A build directory per (tree, profile) under the cache is reused so make and
ccache only redo what changed; the artifacts of a finished build are stored
under builds/<key>/ and an identical input is never built again. Runs sharing
the cache lock both: one builds a key while the others wait and then reuse
it, and make never runs twice at once in one build directory.
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness import locks, paths
from harness.errors import HarnessError
from harness.expected_totals import LastTotals
from harness.proc import require_tools, run
from harness.progress import Progress, Unit

TARGETS = ("bzImage", "vmlinux")
ARTIFACTS = {"bzImage": "arch/x86/boot/bzImage", "vmlinux": "vmlinux", "config": ".config"}
_OBJECT_LINE = re.compile(r"^\s+(CC|AS|LD|AR)\s")
_WARNING = re.compile(r"\bwarning:", re.IGNORECASE)


@dataclass(frozen=True)
class BuildRequest:
    tree: Path
    tree_identity: str
    label: str  # e.g. page-owner[page_owner=y,swap_page_owner=n]
    work_dir: Path  # the O= directory, shared by the runs building this tree and profile
    series: tuple[str, ...]
    config_text: str  # the verified .config this build is for, as configured (it makes the key)


@dataclass(frozen=True)
class BuildResult:
    key: str
    directory: Path
    cached: bool
    seconds: float

    @property
    def vmlinux(self) -> Path:
        return self.directory / "vmlinux"

    @property
    def bzimage(self) -> Path:
        return self.directory / "bzImage"

    @property
    def config(self) -> Path:
        return self.directory / "config"

    @property
    def log(self) -> Path:
        return self.directory / "build.log"


def compiler_version() -> str:
    return subprocess.run(["gcc", "--version"], capture_output=True, text=True).stdout.splitlines()[0]


def normalized_config(config_text: str) -> str:
    """The .config without its generated header (which names the compiler and date)."""
    return "\n".join(line for line in config_text.splitlines()
                     if line.startswith("CONFIG_") or line.startswith("# CONFIG_"))


def build_key(tree_head: str, tree_identity: str, config_text: str, compiler: str) -> str:
    digest = hashlib.sha256()
    for part in (tree_identity, tree_head, config_text, compiler):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:20]


def _tree_head(tree: Path) -> str:
    """The exact content of the tree: HEAD's tree hash plus any uncommitted diff."""
    head = run(["git", "-C", str(tree), "rev-parse", "HEAD^{tree}"], what="git rev-parse").stdout.strip()
    diff = run(["git", "-C", str(tree), "diff", "HEAD"], what="git diff").stdout
    return head + (hashlib.sha256(diff.encode()).hexdigest() if diff else "")


def warnings_in(log_text: str) -> list[str]:
    return [line for line in log_text.splitlines() if _WARNING.search(line)]


def _write_metadata(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    tmp.replace(path)


def _finished(out: Path) -> bool:
    metadata_file = out / "metadata.json"
    if not metadata_file.is_file():
        return False
    metadata = json.loads(metadata_file.read_text())
    return metadata.get("status") == "ok" and all((out / name).is_file() for name in ARTIFACTS)


def build(request: BuildRequest, say: Callable[[str], None] = locks.print_now) -> BuildResult:
    """The finished build of the request's key: from the cache, after waiting for the run
    that is building it, or built now. `say` tells the user whom a run waits for."""
    require_tools("make", "gcc", "flex", "bison", "bc", "perl", purpose="building a kernel")
    started = time.monotonic()
    compiler = compiler_version()
    key = build_key(_tree_head(request.tree), request.tree_identity,
                    normalized_config(request.config_text), compiler)
    out = paths.cache_dir("builds", key)
    if _finished(out):
        return BuildResult(key, out, True, time.monotonic() - started)
    # The key's lock first (the run holding it is building this very kernel), then the
    # work directory's (configuring or building something else in the same O= directory).
    with (locks.exclusive(locks.lock_file(out), f"build {request.label} ({key})", say),
          locks.exclusive(locks.lock_file(request.work_dir), f"work directory {request.work_dir}", say)):
        if _finished(out):  # built by the run we waited for
            return BuildResult(key, out, True, time.monotonic() - started)
        _make(request, key, compiler, out, started)
    return BuildResult(key, out, False, time.monotonic() - started)


def _make(request: BuildRequest, key: str, compiler: str, out: Path, started: float) -> None:
    metadata_file = out / "metadata.json"
    metadata = {
        "status": "building", "key": key, "label": request.label, "tree": str(request.tree),
        "tree_identity": request.tree_identity, "series": list(request.series),
        "work_dir": str(request.work_dir), "compiler": compiler,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "targets": list(TARGETS),
    }
    _write_metadata(metadata_file, metadata)  # first, so a killed build still explains itself
    config = request.work_dir / ".config"
    if not config.is_file() or config.read_text() != request.config_text:
        # Another run configured this shared directory differently since ours (e.g. a
        # checkout with other fragments): build what this request was verified with.
        config.write_text(request.config_text)
    (out / "config").write_text(request.config_text)
    command = ["make", "-C", str(request.tree), f"O={request.work_dir}", "ARCH=x86_64",
               f"-j{os.cpu_count() or 1}", *TARGETS]
    env = dict(os.environ)
    if shutil.which("ccache"):
        command.insert(-len(TARGETS), "CC=ccache gcc")
        env.setdefault("CCACHE_DIR", str(paths.cache_dir("ccache")))
        env.setdefault("CCACHE_BASEDIR", str(paths.cache_root()))
    counts, count_key = LastTotals.named("objects"), _count_key(request)
    progress = Progress(f"building {request.label}", Unit.OBJECTS, counts.get(count_key))
    log_path = out / "build.log"
    with log_path.open("w") as log:
        log.write("$ " + " ".join(command) + "\n")
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, errors="replace", env=env)
        assert process.stdout is not None
        try:
            for text in process.stdout:
                log.write(text)
                log.flush()
                if _OBJECT_LINE.match(text):
                    progress.advance()
                else:
                    progress.tick()
            status = process.wait()
        except KeyboardInterrupt:
            process.terminate()
            process.wait()
            metadata.update(status="interrupted")
            _write_metadata(metadata_file, metadata)
            raise
        finally:
            progress.finish()
    log_text = log_path.read_text(errors="replace")
    metadata.update(objects=progress.done, seconds=round(time.monotonic() - started, 1),
                    warnings=warnings_in(log_text),
                    finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    if status != 0:
        metadata["status"] = "failed"
        _write_metadata(metadata_file, metadata)
        errors = [line for line in log_text.splitlines() if "error" in line.lower()][:10]
        raise HarnessError(f"kernel build {request.label} failed (make exit {status}):\n    "
                           + "\n    ".join(errors or log_text.splitlines()[-10:]),
                           artifacts=[str(log_path), str(metadata_file)])
    for name, relative in ARTIFACTS.items():
        shutil.copy(request.work_dir / relative, out / name)
    metadata["status"] = "ok"
    _write_metadata(metadata_file, metadata)
    if progress.done:
        counts.record(count_key, progress.done)


def _count_key(request: BuildRequest) -> str:
    """Whose object count this build is expected to repeat: the last one of its label that
    also started from an empty work directory, or that also built on top of a previous build.

    The O= directory is shared by a profile's variants and lives in the tree, so
    neither a count kept there (the last variant's, gone with a new tree) nor a
    total of all objects says what this make will compile; a label's last run of
    the same kind does, as long as the nightly repeats its sequence."""
    fresh = not (request.work_dir / "vmlinux").exists()
    return f"{request.label} {'fresh' if fresh else 'incremental'}"
