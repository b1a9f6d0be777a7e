"""Run manifests (YAML): which tree, which series, which Kconfig builds, which guest."""

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from harness.build.source import SourceSpec
from harness.errors import HarnessError

MANIFESTS = Path(__file__).resolve().parent / "manifests"
TOP_KEYS = {"name", "description", "source", "series", "kernels", "builds", "guest", "machine"}
KERNEL_KEYS = {"source", "series"}


@dataclass(frozen=True)
class SeriesRef:
    name: str
    upstream: str = ""


@dataclass(frozen=True)
class BuildRef:
    profile: str
    variables: dict = field(default_factory=dict, hash=False)
    boot: bool | None = None  # None: as the profile says; False: build-only

    @property
    def label(self) -> str:
        if not self.variables:
            return self.profile
        settings = ",".join(f"{k}={'y' if v is True else 'n' if v is False else v}"
                            for k, v in sorted(self.variables.items()))
        return f"{self.profile}[{settings}]"


def parse_label(label: str) -> tuple[str, dict[str, str]]:
    """The inverse of BuildRef.label: "page-owner[page_owner=y,swap_page_owner=n]" ->
    ("page-owner", {"page_owner": "y", "swap_page_owner": "n"})."""
    profile, _, rest = label.partition("[")
    items = [item.split("=", 1) for item in rest.removesuffix("]").split(",") if "=" in item]
    return profile, {name: value for name, value in items}


@dataclass(frozen=True)
class MachineDefaults:
    memory_mb: int = 512
    cpus: int = 2
    swap_disk_mb: int = 1024
    boot_timeout: float = 180.0  # seconds to the ready marker (the debug kernel: about a minute idle)


@dataclass(frozen=True)
class Manifest:
    name: str
    path: Path
    source: SourceSpec
    series: tuple[SeriesRef, ...]
    builds: tuple[BuildRef, ...]
    guest: str
    machine: MachineDefaults
    kernel: str = ""  # which of an A/B manifest's `kernels`; the name is then NAME@KERNEL

    @property
    def reference(self) -> str:
        """What `load` (and --manifest / -m) takes to load this manifest again: its file's
        stem when it is one of the harness's manifests, else its path; @KERNEL for an A/B."""
        base = self.path.stem if self.path.resolve() == (MANIFESTS / self.path.name).resolve() else str(self.path)
        return f"{base}@{self.kernel}" if self.kernel else base


def resolve_path(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.is_file():
        return path
    named = MANIFESTS / f"{name_or_path}.yaml"
    if named.is_file():
        return named
    known = sorted(p.stem for p in MANIFESTS.glob("*.yaml"))
    raise HarnessError(f"manifest {name_or_path!r} not found",
                       hint=f"give a path to a YAML file or one of: {', '.join(known)}")


def _expand(entry: dict, where: str) -> list[BuildRef]:
    if not isinstance(entry, dict) or "profile" not in entry:
        raise HarnessError(f"{where}: each build needs a `profile`")
    unknown = set(entry) - {"profile", "vars", "matrix", "boot"}
    if unknown:
        raise HarnessError(f"{where}: unknown build key(s) {sorted(unknown)}")
    fixed = dict(entry.get("vars") or {})
    matrix = entry.get("matrix") or {}
    if not isinstance(matrix, dict) or not all(isinstance(v, list) for v in matrix.values()):
        raise HarnessError(f"{where}: `matrix` maps each variable to a list of values")
    names = sorted(matrix)
    boot = entry.get("boot")
    return [BuildRef(str(entry["profile"]), {**fixed, **dict(zip(names, values))},
                     None if boot is None else bool(boot))
            for values in itertools.product(*(matrix[n] for n in names))]


def _series(entries, where: str) -> tuple[SeriesRef, ...]:
    series = []
    for index, entry in enumerate(entries or []):
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, dict) or "name" not in entry:
            raise HarnessError(f"{where}: series[{index}] needs a `name`")
        series.append(SeriesRef(str(entry["name"]), str(entry.get("upstream", ""))))
    return tuple(series)


def _read(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise HarnessError(f"{path}: malformed YAML: {error}",
                           hint="fix the YAML syntax at the position given") from None
    if not isinstance(data, dict):
        raise HarnessError(f"{path}: a manifest is a YAML mapping, got {type(data).__name__}")
    unknown = set(data) - TOP_KEYS
    if unknown:
        raise HarnessError(f"{path}: unknown key(s) {sorted(unknown)}", hint=f"known keys: {sorted(TOP_KEYS)}")
    kernels = data.get("kernels")
    if kernels is not None:
        if "source" in data or "series" in data:
            raise HarnessError(f"{path}: `kernels` and a top-level `source`/`series` exclude each other",
                               hint="an A/B manifest gives each kernel its own source and series")
        if not isinstance(kernels, dict) or not kernels:
            raise HarnessError(f"{path}: `kernels` maps a name to a source and series, e.g. v7.3: {{source: ...}}")
        for name, entry in kernels.items():
            if not isinstance(entry, dict) or set(entry) - KERNEL_KEYS:
                raise HarnessError(f"{path}: kernels.{name}: only {sorted(KERNEL_KEYS)} may be given")
    return data


def _manifest(path: Path, data: dict, kernel: str) -> Manifest:
    own = (data.get("kernels") or {}).get(kernel, data)
    builds = [ref for index, entry in enumerate(data.get("builds") or [])
              for ref in _expand(entry, f"{path}: builds[{index}]")]
    if not builds:
        raise HarnessError(f"{path}: no `builds`", hint="list at least one Kconfig profile to build")
    machine = data.get("machine") or {}
    try:
        defaults = MachineDefaults(**machine)
    except TypeError as error:
        raise HarnessError(f"{path}: machine: {error}") from None
    where = f"{path}: kernels.{kernel}" if kernel else str(path)
    name = str(data.get("name", path.stem))
    return Manifest(
        name=f"{name}@{kernel}" if kernel else name,
        path=path,
        source=SourceSpec.from_dict(own.get("source") or {}, f"{where}: source"),
        series=_series(own.get("series"), where),
        builds=tuple(builds),
        guest=str(data.get("guest", "default")),
        machine=defaults,
        kernel=kernel,
    )


def _split(name_or_path: str) -> tuple[str, str]:
    """NAME@KERNEL -> (NAME, KERNEL); a manifest file's own path is never split."""
    if "@" not in name_or_path or Path(name_or_path).is_file():
        return name_or_path, ""
    base, _, kernel = name_or_path.rpartition("@")
    return base, kernel


def load_all(name_or_path: str) -> tuple[Manifest, ...]:
    """Every kernel of a manifest: one, or one per entry of an A/B manifest's `kernels`."""
    if _split(name_or_path)[1]:
        return (load(name_or_path),)
    path = resolve_path(name_or_path)
    data = _read(path)
    return tuple(_manifest(path, data, kernel) for kernel in (data.get("kernels") or {"": None}))


def load(name_or_path: str) -> Manifest:
    """One kernel's manifest; NAME@KERNEL picks a kernel of an A/B manifest."""
    base, kernel = _split(name_or_path)
    path = resolve_path(base)
    data = _read(path)
    kernels = data.get("kernels") or {}
    if kernels and kernel not in kernels:
        choices = ", ".join(f"{path.stem}@{name}" for name in kernels)
        raise HarnessError(f"manifest {base}: " + (f"has no kernel {kernel!r}" if kernel
                                                    else "is an A/B manifest with several kernels"),
                           hint=f"name one of its kernels: {choices}")
    if kernel and not kernels:
        raise HarnessError(f"manifest {base} has no `kernels`, so {name_or_path!r} names nothing",
                           hint=f"use --manifest {base}")
    return _manifest(path, data, kernel)
