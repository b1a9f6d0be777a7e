"""Swap tracking under a swap storm on every vCPU, for two versions of the page_owner swap series.

Both vCPUs swap at once (harness.run.swap_storm: two perl workers sweeping
anonymous memory larger than their share of RAM), so swap-outs, swap-in
faults and slot frees of the two CPUs meet on the series' one global
xarray. Each version's y/y kernel boots with `page_owner=on` (the baseline:
swap tracking off) and with `page_owner=on,swap`, in the same run.

The two versions: "before" is patches/page-owner-swap as committed at
BENCH_BEFORE (a git revision of the harness's repository, default HEAD),
exported to a temporary directory; "after" is the working tree's, or the
series directory BENCH_AFTER (e.g. another checkout's patches/page-owner-swap,
to measure a series being rewritten there without committing it). Builds are
keyed by content, so when both are the same patches, both are the same
(cached) build, and after/before then measures the run-to-run noise.

The order of the boots is ABBA (reversed every other round) so that a slow
drift of the host hits both sides alike. Each storm's size is fixed from
the first boot's MemAvailable, so every kernel does the same work.
Figures: medians of BENCH_BOOTS boots x BENCH_STORMS storms per kernel and
command line; wall time of the sweeps and swap-ins/outs per second from
/proc/vmstat deltas. JSON: scalability.json in the results directory.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

from harness.bench import lab
from harness.build import manifest as manifests, series_at
from harness.build.series import PATCHES
from harness.errors import HarnessError
from harness.run import session, swap_storm

YY = "page-owner[page_owner=y,swap_page_owner=y]"
SERIES = "page-owner-swap"
BASE, TRACKED = "page_owner=on", "page_owner=on,swap"
CMDLINES = (BASE, TRACKED)
VERSIONS = ("before", "after")
SHARE = 0.65  # each worker's string, of MemAvailable: 2 workers hold 1.3x what is available
PASSES = 2
TRACKING_LINE = "page_owner: tracking pages in swap space"


@dataclass(frozen=True)
class Settings:
    before: str = "HEAD"
    after: str = ""  # a series directory; "" is the working tree's patches/SERIES
    boots: int = 2  # per version and command line
    storms: int = 2  # per boot
    data: str = "zero"  # swap_storm.DATA_BYTES key

    @classmethod
    def from_env(cls) -> Settings:
        def number(name: str, default: int) -> int:
            text = os.environ.get(name, str(default))
            if not text.isdigit() or int(text) < 1:
                raise HarnessError(f"{name}={text!r}: expected a positive whole number")
            return int(text)
        return cls(os.environ.get("BENCH_BEFORE", "HEAD"), os.environ.get("BENCH_AFTER", ""),
                   number("BENCH_BOOTS", 2), number("BENCH_STORMS", 2), os.environ.get("BENCH_DATA", "zero"))

    @property
    def after_dir(self) -> Path:
        directory = Path(self.after) if self.after else PATCHES / SERIES
        if directory.name != SERIES or not (directory / "series").is_file():
            raise HarnessError(f"BENCH_AFTER={self.after!r}: not a {SERIES} series directory",
                               hint=f"give a directory named {SERIES} with a quilt-style `series` file")
        return directory


@dataclass
class Sample:
    version: str
    cmdline: str
    boot: int
    storm: int
    result: swap_storm.Storm
    load: float  # the host's 1-minute load average when the storm ended

    def as_dict(self) -> dict:
        return {"version": self.version, "cmdline": self.cmdline, "boot": self.boot, "storm": self.storm,
                "host_load": self.load, **self.result.as_dict()}


@dataclass
class Cell:
    """The samples of one version and command line, and their medians."""

    samples: list[Sample] = field(default_factory=list)

    def median(self, value) -> float:
        return lab.median([value(sample.result) for sample in self.samples])

    def spread(self, value) -> float:
        """(max - min) / median of a value over the samples: the noise within the cell."""
        values = [value(sample.result) for sample in self.samples]
        return (max(values) - min(values)) / lab.median(values)


def seconds(storm: swap_storm.Storm) -> float:
    return storm.seconds


def ins_per_second(storm: swap_storm.Storm) -> float:
    return storm.ins_per_second


def outs_per_second(storm: swap_storm.Storm) -> float:
    return storm.outs_per_second


MEASURES = {"wall s": seconds, "swap-ins/s": ins_per_second, "swap-outs/s": outs_per_second}


def schedule(boots: int) -> list[tuple[int, str, str]]:
    """(round, version, cmdline) for every boot, ABBA: each round reversed from the one before."""
    order = [(version, cmdline) for version in VERSIONS for cmdline in CMDLINES]
    return [(round_, version, cmdline) for round_ in range(boots)
            for version, cmdline in (order if round_ % 2 == 0 else order[::-1])]


def summary(cells: dict[tuple[str, str], Cell]) -> dict:
    """Medians, spreads and the ratios: ,swap / baseline per version, and after / before per command line."""
    medians = {f"{version} {cmdline}": {name: cell.median(value) for name, value in MEASURES.items()}
               for (version, cmdline), cell in cells.items()}
    spreads = {f"{version} {cmdline}": {name: cell.spread(value) for name, value in MEASURES.items()}
               for (version, cmdline), cell in cells.items()}
    ratios = {}
    for version in VERSIONS:
        ratios[f"{version}: swap / baseline"] = {
            name: medians[f"{version} {TRACKED}"][name] / medians[f"{version} {BASE}"][name] for name in MEASURES}
    for cmdline in CMDLINES:
        ratios[f"{cmdline}: after / before"] = {
            name: medians[f"after {cmdline}"][name] / medians[f"before {cmdline}"][name] for name in MEASURES}
    return {"medians": medians, "spreads": spreads, "ratios": ratios}


def table(figures: dict) -> list[str]:
    lines = [f"{'':34}" + "".join(f"{name:>13}" for name in MEASURES) + f"{'spread':>9}"]
    for key, values in figures["medians"].items():
        spread = max(figures["spreads"][key].values())
        lines.append(f"  {key:32}" + "".join(f"{values[name]:13.1f}" for name in MEASURES) + f"{spread:8.1%}")
    for key, values in figures["ratios"].items():
        lines.append(f"  {key:32}" + "".join(f"{values[name]:13.3f}" for name in MEASURES))
    return lines


def storm_line(sample: Sample) -> str:
    storm = sample.result
    workers = "/".join(f"{value:.1f}" for value in storm.worker_seconds)
    return (f"  {sample.version:6} {sample.cmdline:19} boot {sample.boot} storm {sample.storm}: "
            f"{storm.seconds:6.1f} s (workers {workers}), {storm.ins_per_second:7.0f} in/s, "
            f"{storm.outs_per_second:7.0f} out/s, host load {sample.load:.1f}")


def check_guest(shell, cpus: int, cmdline: str) -> None:
    """The guest has the vCPUs asked for, and swap tracking is on exactly with `,swap`."""
    online = int(shell.check(["nproc"]).stdout)
    if online != cpus:
        raise HarnessError(f"the guest has {online} CPU(s) online, the machine has {cpus}",
                           hint="a scalability figure needs every vCPU (see qemu.py's -smp sockets)")
    tracking = TRACKING_LINE in shell.check(["dmesg"]).stdout
    if tracking != (cmdline == TRACKED):
        raise HarnessError(f"{cmdline}: swap tracking is {'on' if tracking else 'off'} (dmesg: {TRACKING_LINE!r})")


def kernels(settings: Settings, scratch: Path) -> tuple[dict, bool]:
    default = manifests.load("default")
    exported = series_at.export(SERIES, settings.before, scratch)
    before = series_at.with_series(default, SERIES, exported)
    after = series_at.with_series(default, SERIES, settings.after_dir) if settings.after else default
    say = lambda text: None  # noqa: E731
    built = {"before": session.kernel_under_test(before, YY, say=say),
             "after": session.kernel_under_test(after, YY, say=say)}
    return built, series_at.same_files(exported, settings.after_dir)


def bench_scalability() -> Iterator[str]:
    settings = Settings.from_env()
    results = lab.results_dir("scalability")
    yield (f"kernels: {YY} of {SERIES} at {settings.before} (before) and in "
           f"{settings.after_dir} (after)")
    with tempfile.TemporaryDirectory(prefix="mmharness-series-") as scratch:
        kuts, same = kernels(settings, Path(scratch))
    yield (f"before: build {kuts['before'].build_dir.name}; after: build {kuts['after'].build_dir.name}"
           + (" (the same patches)" if same else ""))
    config = None
    cells = {(version, cmdline): Cell() for version in VERSIONS for cmdline in CMDLINES}
    for round_, version, cmdline in schedule(settings.boots):
        kut = kuts[version]
        spec = lab.spec_for(kut, cmdline)
        with lab.booted(kut, spec, f"{version}-{cmdline}-{round_}", results) as vm:
            shell = vm.shell()
            check_guest(shell, spec.cpus, cmdline)
            if config is None:
                available = int(shell.check(["awk", "/MemAvailable/ {print int($2 / 1024)}", "/proc/meminfo"]).stdout)
                config = swap_storm.StormConfig(workers=spec.cpus, mib=int(available * SHARE), passes=PASSES,
                                                data=settings.data)
                yield (f"{kut.label}, {spec.memory_mb} MiB, {spec.cpus} vCPUs, {available} MiB available at boot; "
                       f"{swap_storm.describe(config)}; {settings.boots} boots x {settings.storms} storms each")
            for storm in range(settings.storms):
                sample = Sample(version, cmdline, round_, storm, swap_storm.run(shell, config), os.getloadavg()[0])
                cells[version, cmdline].samples.append(sample)
                yield storm_line(sample)
    figures = summary(cells)
    yield f"medians of {settings.boots * settings.storms} storms (spread: the largest (max - min) / median):"
    yield from table(figures)
    data = {"settings": asdict(settings), "storm": asdict(config), "same_patches": same,
            "kernels": {version: str(kut.build_dir) for version, kut in kuts.items()},
            "samples": [sample.as_dict() for cell in cells.values() for sample in cell.samples], **figures}
    (results / "scalability.json").write_text(json.dumps(data, indent=2))
    yield f"results: {results / 'scalability.json'}"
