"""programs.yaml (which selftests, how to run them, which results may differ from a pass)
and subtests.yaml (the TAP results each program printed in a recorded run)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from harness.errors import HarnessError

HERE = Path(__file__).resolve().parent
PROGRAMS = HERE / "programs.yaml"
SUBTESTS = HERE / "subtests.yaml"
SUITES = ("mm", "cgroup")
STATUSES = ("skip", "fail", "flaky")


@dataclass(frozen=True)
class Program:
    id: str
    suite: str  # tools/testing/selftests/SUITE
    binary: str
    args: tuple[str, ...]
    timeout: float
    why: str
    zswap: bool = False  # run with zswap enabled (after every program without it)

    @property
    def target(self) -> str:
        return f"{self.suite}/{self.binary}"


@dataclass(frozen=True)
class Expected:
    """A result that may be other than a pass, and why that is expected here."""

    program: str
    label: re.Pattern
    status: str  # "skip", "fail", or "flaky" (a pass or a failure on either kernel, never a regression)
    reason: str

    def matches(self, program: str, label: str) -> bool:
        return program == self.program and self.label.fullmatch(label) is not None


@dataclass(frozen=True)
class Catalog:
    programs: tuple[Program, ...]
    expected: tuple[Expected, ...]

    def program(self, program_id: str) -> Program:
        for program in self.programs:
            if program.id == program_id:
                return program
        raise HarnessError(f"{PROGRAMS}: no program {program_id!r}",
                           hint=f"its programs: {', '.join(p.id for p in self.programs)}")

    def expectation(self, program: str, label: str) -> Expected | None:
        return next((one for one in self.expected if one.matches(program, label)), None)

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(sorted({program.target for program in self.programs}))


def _read(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as error:
        raise HarnessError(f"{path}: cannot read: {error}") from None
    except yaml.YAMLError as error:
        raise HarnessError(f"{path}: malformed YAML: {error}", hint="fix the YAML at the position given") from None
    if not isinstance(data, dict):
        raise HarnessError(f"{path}: expected a YAML mapping, got {type(data).__name__}")
    return data


def _program(entry: object, where: str) -> Program:
    keys = {"id", "suite", "binary", "args", "timeout", "why", "zswap"}
    if not isinstance(entry, dict) or not {"id", "suite", "binary", "timeout"} <= set(entry) or set(entry) - keys:
        raise HarnessError(f"{where}: a program needs id, suite, binary and timeout (and may have args, why, zswap)",
                           hint=f"got {entry!r}")
    if entry["suite"] not in SUITES:
        raise HarnessError(f"{where}: unknown suite {entry['suite']!r}", hint=f"one of: {', '.join(SUITES)}")
    args = entry.get("args") or []
    if not isinstance(args, list):
        raise HarnessError(f"{where}: args is a list of strings, got {args!r}")
    return Program(str(entry["id"]), entry["suite"], str(entry["binary"]), tuple(str(a) for a in args),
                   float(entry["timeout"]), " ".join(str(entry.get("why", "")).split()), bool(entry.get("zswap")))


def _expected(program: str, entry: object, where: str) -> Expected:
    if not isinstance(entry, dict) or set(entry) != {"label", "status", "reason"}:
        raise HarnessError(f"{where}: an expected result has exactly label, status and reason", hint=f"got {entry!r}")
    if entry["status"] not in STATUSES:
        raise HarnessError(f"{where}: status {entry['status']!r}", hint=f"one of: {', '.join(STATUSES)}")
    if not str(entry["reason"]).strip():
        raise HarnessError(f"{where}: say why this result is expected here (reason)")
    try:
        pattern = re.compile(str(entry["label"]))
    except re.error as error:
        raise HarnessError(f"{where}: label is not a regular expression: {error}") from None
    return Expected(program, pattern, entry["status"], " ".join(str(entry["reason"]).split()))


def load(path: Path = PROGRAMS) -> Catalog:
    data = _read(path)
    programs = tuple(_program(entry, f"{path}: programs[{index}]")
                     for index, entry in enumerate(data.get("programs") or []))
    ids = [program.id for program in programs]
    if not programs or len(set(ids)) != len(ids):
        raise HarnessError(f"{path}: programs must be a non-empty list with unique ids", hint=f"ids: {ids}")
    expected = []
    for program, entries in (data.get("expected") or {}).items():
        if program not in ids:
            raise HarnessError(f"{path}: expected: no program {program!r}", hint=f"programs: {', '.join(ids)}")
        expected += [_expected(program, entry, f"{path}: expected.{program}[{index}]")
                     for index, entry in enumerate(entries or [])]
    return Catalog(programs, tuple(expected))


@dataclass(frozen=True)
class Recorded:
    """One TAP result as a recorded run printed it."""

    program: str
    number: int
    label: str

    @property
    def id(self) -> str:
        return f"{self.program}-{self.number:03d}-{self.label}"


def load_subtests(path: Path = SUBTESTS) -> tuple[Recorded, ...]:
    """The recorded results, in order; empty when nothing was recorded yet."""
    if not path.is_file():
        return ()
    data = _read(path)
    recorded = []
    for program, labels in (data.get("subtests") or {}).items():
        if not isinstance(labels, list):
            raise HarnessError(f"{path}: subtests.{program} is a list of labels")
        recorded += [Recorded(str(program), number, str(label)) for number, label in enumerate(labels, start=1)]
    return tuple(recorded)


def dump_subtests(results: dict[str, list[str]], header: str, path: Path = SUBTESTS) -> None:
    """Write the labels each program printed, numbered from 1 in order, under a comment `header`."""
    comment = "".join(f"# {line}\n".replace("# \n", "#\n") for line in header.splitlines())
    path.write_text(comment + yaml.safe_dump({"subtests": results}, sort_keys=False, width=200))
