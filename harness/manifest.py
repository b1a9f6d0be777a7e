"""Run manifests (YAML): which tree, which series, which Kconfig builds, which guest."""

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from harness.errors import HarnessError
from harness.paths import REPO_ROOT
from harness.source import SourceSpec

MANIFESTS = REPO_ROOT / "harness" / "manifests"
TOP_KEYS = {"name", "description", "source", "series", "builds", "guest", "machine"}


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


@dataclass(frozen=True)
class MachineDefaults:
    memory_mb: int = 512
    cpus: int = 2
    swap_disk_mb: int = 1024


@dataclass(frozen=True)
class Manifest:
    name: str
    path: Path
    source: SourceSpec
    series: tuple[SeriesRef, ...]
    builds: tuple[BuildRef, ...]
    guest: str
    machine: MachineDefaults


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


def load(name_or_path: str) -> Manifest:
    path = resolve_path(name_or_path)
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
    series = []
    for index, entry in enumerate(data.get("series") or []):
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, dict) or "name" not in entry:
            raise HarnessError(f"{path}: series[{index}] needs a `name`")
        series.append(SeriesRef(str(entry["name"]), str(entry.get("upstream", ""))))
    builds = [ref for index, entry in enumerate(data.get("builds") or [])
              for ref in _expand(entry, f"{path}: builds[{index}]")]
    if not builds:
        raise HarnessError(f"{path}: no `builds`", hint="list at least one Kconfig profile to build")
    machine = data.get("machine") or {}
    try:
        defaults = MachineDefaults(**machine)
    except TypeError as error:
        raise HarnessError(f"{path}: machine: {error}") from None
    return Manifest(
        name=str(data.get("name", path.stem)),
        path=path,
        source=SourceSpec.from_dict(data.get("source") or {}, f"{path}: source"),
        series=tuple(series),
        builds=tuple(builds),
        guest=str(data.get("guest", "default")),
        machine=defaults,
    )
