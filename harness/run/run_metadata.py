"""RUN_DIR/metadata.json: what a kernel test session ran on, written as the run goes.

The pytest plugin writes it when the session's results directory is made
(harness version, host, QEMU, compiler), again after each kernel is built or
found in the cache (its tree, each series with the sha256 of each patch, the
.config's sha256, the pipeline's phase timings) and after each test (the boot
seconds the per-test metadata.json files hold), so a killed run still leaves
an up-to-date file. Each write replaces the file atomically.
"""

import hashlib
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness import paths

FILE = "metadata.json"
QEMU = "qemu-system-x86_64"


@dataclass
class Host:
    cpu_model: str
    cores: int
    accel: str  # what harness.run.machine.detect_accel chooses for accel "auto" (MMHARNESS_ACCEL honoured)


@dataclass
class Patch:
    name: str
    sha256: str


@dataclass
class SeriesInfo:
    name: str
    upstream: str = ""  # merged upstream (nothing applied), e.g. v7.3
    patches: list[Patch] = field(default_factory=list)


@dataclass
class KernelInfo:
    manifest: str
    build: str  # the build's label
    tree: str  # the source tree's identity, e.g. debian-linux-source-7.3-7.3.4-1_bpo13+1
    vmlinux: str
    config_sha256: str
    series: list[SeriesInfo] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)  # fetch/patch/config/build seconds of this run
    built_seconds: float | None = None  # how long the cached build took when it was made
    boot_seconds: dict[str, float] = field(default_factory=dict)  # test node id -> seconds

    @property
    def key(self) -> tuple[str, str]:
        return (self.manifest, self.build)


@dataclass
class RunMetadata:
    harness_version: str
    started: str
    updated: str
    command: str
    host: Host
    qemu: str
    compiler: str
    kernels: list[KernelInfo] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "RunMetadata":
        kernels = []
        for entry in data.get("kernels", []):
            entry = dict(entry)
            entry["series"] = [SeriesInfo(one["name"], one.get("upstream", ""),
                                          [Patch(**patch) for patch in one.get("patches", [])])
                               for one in entry.get("series", [])]
            kernels.append(KernelInfo(**entry))
        fields = {key: data[key] for key in ("harness_version", "started", "updated", "command", "qemu", "compiler")}
        return cls(host=Host(**data["host"]), kernels=kernels, **fields)

    def kernel(self, manifest: str, build: str) -> KernelInfo | None:
        return next((one for one in self.kernels if one.key == (manifest, build)), None)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def harness_version(repo: Path = paths.REPO_ROOT) -> str:
    """`git describe --always --dirty` of the checkout, else the installed package's version."""
    if (repo / ".git").exists():
        try:
            out = subprocess.run(["git", "-C", str(repo), "describe", "--always", "--dirty"],
                                 capture_output=True, text=True, timeout=30)
            if out.returncode == 0 and out.stdout.strip():
                return out.stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            pass
    try:
        return importlib.metadata.version("mmharness")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def cpu_model(cpuinfo: str) -> str:
    found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    return found.group(1).strip() if found else "unknown"


def host_info(cpuinfo: str | None = None, cores: int | None = None, accel: str | None = None) -> Host:
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    if accel is None:
        from harness.errors import HarnessError
        from harness.run.machine import detect_accel  # the rule the machines follow

        try:
            accel = detect_accel("auto", cpuinfo=cpuinfo)
        except HarnessError as error:
            accel = f"none ({error})"
    return Host(cpu_model(cpuinfo), cores if cores is not None else (os.cpu_count() or 0), accel)


def tool_version(command: list[str]) -> str:
    """The first line a tool prints about its version, or why there is none."""
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"unavailable ({type(error).__name__}: {error})"
    lines = (out.stdout or out.stderr).strip().splitlines()
    return lines[0] if lines else f"unavailable (exit {out.returncode})"


def new(argv: list[str] | None = None, host: Host | None = None) -> RunMetadata:
    now = _now()
    return RunMetadata(harness_version=harness_version(), started=now, updated=now,
                       command=" ".join(sys.argv if argv is None else argv), host=host or host_info(),
                       qemu=tool_version([QEMU, "--version"]), compiler=tool_version(["gcc", "--version"]))


def write(run_dir: Path, metadata: RunMetadata) -> Path:
    path = Path(run_dir) / FILE
    tmp = path.with_name(f".{FILE}.tmp")
    tmp.write_text(json.dumps(metadata.to_dict(), indent=2) + "\n")
    tmp.replace(path)
    return path


def read(run_dir: Path) -> RunMetadata:
    return RunMetadata.from_dict(json.loads((Path(run_dir) / FILE).read_text()))


def start(run_dir: Path, **options) -> RunMetadata:
    """Write RUN_DIR/metadata.json at the start of a session."""
    metadata = new(**options)
    write(run_dir, metadata)
    return metadata


def series_info(manifest) -> dict[str, SeriesInfo]:
    """Each series of a manifest, with the sha256 of each patch file (patches/NAME, harness.build.series)."""
    from harness.build import series as kseries

    found = {}
    for ref in manifest.series:
        one = kseries.load_series(ref.name, ref.upstream)
        found[ref.name] = SeriesInfo(one.name, ref.upstream,
                                     [Patch(patch.name, sha256_file(patch)) for patch in one.patches])
    return found


def kernel_info(kernel, phases: dict[str, float] | None = None) -> KernelInfo:
    """A harness.build.pipeline.KernelUnderTest as the run's metadata describes it."""
    build_meta = {}
    try:
        build_meta = json.loads((Path(kernel.build_dir) / "metadata.json").read_text())  # harness.build.kbuild writes it
    except (OSError, ValueError):
        pass
    known = series_info(kernel.manifest)
    series = [known.get(name, SeriesInfo(name)) for name in kernel.series]
    config = Path(kernel.config)
    return KernelInfo(
        manifest=kernel.manifest.name, build=kernel.label,
        tree=str(build_meta.get("tree_identity", "")) or "unknown", vmlinux=str(kernel.vmlinux),
        config_sha256=sha256_file(config) if config.is_file() else "",
        series=series, phases=dict(phases if phases is not None else getattr(kernel, "phases", {}) or {}),
        built_seconds=build_meta.get("seconds"))


def collect_boots(run_dir: Path, metadata: RunMetadata) -> None:
    """Boot seconds of each test (its metadata.json, written by the machine fixture) under its kernel."""
    for path in sorted(Path(run_dir).glob(f"*/{FILE}")):
        try:
            test = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # being written
        kernel = metadata.kernel(str(test.get("manifest", "")), str(test.get("build", "")))
        if kernel is not None and isinstance(test.get("boot_seconds"), (int, float)):
            kernel.boot_seconds[str(test.get("test", path.parent.name))] = float(test["boot_seconds"])


def add_kernel(run_dir: Path, kernel, phases: dict[str, float] | None = None) -> RunMetadata:
    """Record (or replace) a kernel of the session after it is built; returns the updated metadata."""
    metadata = read(run_dir)
    info = kernel_info(kernel, phases)
    metadata.kernels = [one for one in metadata.kernels if one.key != info.key] + [info]
    return refresh(run_dir, metadata)


def refresh(run_dir: Path, metadata: RunMetadata | None = None) -> RunMetadata | None:
    """Collect the boot seconds of the tests so far and rewrite the file (None: there is none to update)."""
    if metadata is None:
        if not (Path(run_dir) / FILE).is_file():
            return None
        metadata = read(run_dir)
    collect_boots(run_dir, metadata)
    metadata.updated = _now()
    write(run_dir, metadata)
    return metadata
