"""Kconfig profiles -> rendered fragments -> .config, verified symbol by symbol.

A profile (kconfigs/profiles/NAME.yaml) names a base (tinyconfig, defconfig),
fragment templates (kconfigs/fragments/NAME.config.j2) and template variables.
Each template line is rendered on its own, so every requested value keeps the
file:line it came from and a dropped value can be reported there.
"""

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import yaml

from harness import locks
from harness.build.kconfig_symbols import SymbolInfo, explain_drop, index_kconfig
from harness.errors import HarnessError
from harness.paths import REPO_ROOT
from harness.proc import require_tools, run

KCONFIGS = REPO_ROOT / "kconfigs"
BASES = ("tinyconfig", "defconfig", "allnoconfig")
_SET = re.compile(r"^CONFIG_(\w+)=(.*)$")
_UNSET = re.compile(r"^# CONFIG_(\w+) is not set$")


@dataclass(frozen=True)
class Request:
    """One requested value and where it was asked for."""

    symbol: str
    value: str  # "n" for "is not set"
    origin: str  # template path:line

    def satisfied_by(self, final: dict[str, str]) -> bool:
        if self.value == "n":
            return final.get(self.symbol, "n") == "n"
        return final.get(self.symbol) == self.value


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    base: str
    fragments: tuple[str, ...]
    variables: dict = field(hash=False)
    boot: bool
    # symbol -> series that defines it: unknown is expected while it is not applied
    unknown_until_series: dict = field(hash=False)
    root: Path = KCONFIGS  # the kconfigs/ directory holding profiles/ and fragments/
    # Variables that change every compile command when true (the debug kernel's KASAN):
    # such a build gets an O= directory of its own instead of sharing the profile's.
    own_work_dir: tuple[str, ...] = ()

    @property
    def work_dir_name(self) -> str:
        """The profile's name, plus "-VAR" for each own_work_dir variable that is true."""
        return "-".join([self.name, *(var for var in self.own_work_dir if self.variables.get(var))])

    @property
    def slug(self) -> str:
        digest = hashlib.sha256(repr(sorted(self.variables.items())).encode()).hexdigest()[:8]
        return f"{self.name}-{digest}"


def _option(name: str, enabled: object) -> str:
    return f"CONFIG_{name}=y" if enabled else f"# CONFIG_{name} is not set"


def load_profile(name: str, overrides: dict | None = None, root: Path = KCONFIGS) -> Profile:
    file = root / "profiles" / f"{name}.yaml"
    if not file.is_file():
        known = sorted(p.stem for p in (root / "profiles").glob("*.yaml"))
        raise HarnessError(f"unknown Kconfig profile {name!r}", hint=f"known profiles: {', '.join(known)}")
    try:
        data = yaml.safe_load(file.read_text()) or {}
    except yaml.YAMLError as error:
        raise HarnessError(f"{file}: malformed YAML: {error}") from None
    if data.get("base", "tinyconfig") not in BASES:
        raise HarnessError(f"{file}: unknown base {data.get('base')!r}", hint=f"use one of {BASES}")
    for fragment in data.get("fragments", []):
        if not (root / "fragments" / f"{fragment}.config.j2").is_file():
            raise HarnessError(f"{file}: fragment {fragment!r} not found in {root / 'fragments'}")
    variables = dict(data.get("vars") or {})
    unknown_vars = set(overrides or {}) - set(variables)
    if unknown_vars:
        raise HarnessError(f"profile {name}: unknown variable(s) {sorted(unknown_vars)}",
                           hint=f"{file} defines {sorted(variables)}")
    not_variables = sorted(set(data.get("own_work_dir") or ()) - set(variables))
    if not_variables:
        raise HarnessError(f"{file}: own_work_dir names {not_variables}, which are not variables",
                           hint=f"its vars: {sorted(variables)}")
    variables.update(overrides or {})
    return Profile(
        name=name,
        description=str(data.get("description", "")),
        base=data.get("base", "tinyconfig"),
        fragments=tuple(data.get("fragments", [])),
        variables=variables,
        boot=bool(data.get("boot", False)),
        unknown_until_series=dict(data.get("unknown_until_series") or {}),
        root=root,
        own_work_dir=tuple(data.get("own_work_dir") or ()),
    )


def tree_version(tree: Path) -> tuple[int, int]:
    """(VERSION, PATCHLEVEL) from the tree's top Makefile, e.g. (7, 3)."""
    makefile = tree / "Makefile"
    try:
        head = makefile.read_text(errors="replace")[:2000]
    except OSError as error:
        raise HarnessError(f"{makefile}: cannot read the kernel version: {error}") from None
    found = dict(re.findall(r"^(VERSION|PATCHLEVEL) = (\d+)$", head, re.M))
    if len(found) != 2:
        raise HarnessError(f"{makefile}: no VERSION/PATCHLEVEL lines", hint="is this a Linux tree?")
    return int(found["VERSION"]), int(found["PATCHLEVEL"])


def render(profile: Profile, version: tuple[int, int] | None = None) -> tuple[str, list[Request]]:
    """Render all fragments; return the merged fragment text and the requests.

    Templates see the profile's variables, `option`, and `version`, the tree's
    (VERSION, PATCHLEVEL): `{% if version >= (6, 15) %}` for symbols that differ."""
    root = profile.root
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    lines: list[str] = []
    requests: dict[str, Request] = {}
    for fragment in profile.fragments:
        path = root / "fragments" / f"{fragment}.config.j2"
        shown = path.relative_to(root.parent) if root.parent in path.parents else path
        for number, source in enumerate(path.read_text().splitlines(), start=1):
            try:
                context = {"option": _option, **profile.variables}
                if version is not None:
                    context["version"] = tuple(version)
                text = env.from_string(source).render(**context).strip()
            except jinja2.TemplateError as error:
                raise HarnessError(f"{shown}:{number}: {error}") from None
            set_match, unset_match = _SET.match(text), _UNSET.match(text)
            if set_match:
                request = Request(set_match.group(1), set_match.group(2), f"{shown}:{number}")
            elif unset_match:
                request = Request(unset_match.group(1), "n", f"{shown}:{number}")
            elif text and not text.startswith("#"):
                raise HarnessError(f"{shown}:{number}: not a Kconfig line: {text!r}")
            else:
                continue
            requests[request.symbol] = request  # a later fragment overrides an earlier one
            lines.append(text)
    return "\n".join(lines) + "\n", list(requests.values())


def read_config(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if match := _SET.match(line):
            values[match.group(1)] = match.group(2)
        elif match := _UNSET.match(line):
            values[match.group(1)] = "n"
    return values


@dataclass
class Verification:
    errors: list[str]
    expected_unknown: list[str]

    def raise_if_failed(self, config: Path) -> None:
        if self.errors:
            raise HarnessError(
                "Kconfig verification failed:\n  " + "\n  ".join(self.errors),
                hint="fix the fragment lines named above (or their dependencies)",
                artifacts=[str(config)],
            )


def verify(requests: list[Request], final: dict[str, str], symbols: dict[str, SymbolInfo],
           profile: Profile, applied_series: set[str]) -> Verification:
    errors: list[str] = []
    expected_unknown: list[str] = []
    for request in requests:
        if request.symbol not in symbols:
            series = profile.unknown_until_series.get(request.symbol)
            if series and series not in applied_series:
                expected_unknown.append(
                    f"{request.origin}: CONFIG_{request.symbol} is unknown to this tree, "
                    f"as expected while series {series} is not applied")
            else:
                errors.append(f"{request.origin}: CONFIG_{request.symbol} is not a Kconfig symbol of this tree "
                              "(misspelt, or defined by a series that is not applied)")
            continue
        if not request.satisfied_by(final):
            got = final.get(request.symbol, "n")
            errors.append(
                f"{request.origin}: CONFIG_{request.symbol}={request.value} requested, final .config has "
                f"{'is not set' if got == 'n' else got}: {explain_drop(request.symbol, symbols[request.symbol], final)}")
    return Verification(errors, expected_unknown)


@dataclass(frozen=True)
class ConfigResult:
    config: Path  # the final .config in the build directory
    fragment: Path
    expected_unknown: tuple[str, ...]
    # The verified .config as this run wrote it: another run may rewrite the shared file later.
    text: str = field(repr=False)


def configure(tree: Path, build_dir: Path, profile: Profile, applied_series: set[str],
              log: Path, say: Callable[[str], None] = locks.print_now) -> ConfigResult:
    """base config + rendered fragment -> olddefconfig -> verified .config in build_dir.

    Holds build_dir's lock (as a kernel build in it does), so two runs never
    configure, or configure and build, in the same directory at once.
    """
    require_tools("make", "gcc", "flex", "bison", purpose="configuring a kernel")
    build_dir.mkdir(parents=True, exist_ok=True)
    fragment_text, requests = render(profile, tree_version(tree))
    with locks.exclusive(locks.lock_file(build_dir), f"work directory {build_dir}", say):
        fragment = build_dir / "mmharness-fragment.config"
        fragment.write_text(fragment_text)
        make = ["make", "-C", str(tree), f"O={build_dir}", "ARCH=x86_64"]
        run([*make, profile.base], what=f"make {profile.base}", log=log)
        run([str(tree / "scripts/kconfig/merge_config.sh"), "-m", "-O", str(build_dir),
             str(build_dir / ".config"), str(fragment)], cwd=build_dir, what="merge_config.sh", log=log)
        run([*make, "olddefconfig"], what="make olddefconfig", log=log)
        config = build_dir / ".config"
        text = config.read_text()
        result = verify(requests, read_config(config), index_kconfig(tree), profile, applied_series)
    result.raise_if_failed(config)
    return ConfigResult(config, fragment, tuple(result.expected_unknown), text)
