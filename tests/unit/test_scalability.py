"""The swap storm's parsing, the scalability benchmark's schedule and ratios, and series_at (no VM)."""

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.bench import scalability
from harness.build import manifest as manifests, series_at
from harness.build.series import PATCHES, load_series
from harness.errors import HarnessError
from harness.paths import REPO_ROOT
from harness.run import swap_storm

STORM = Path(__file__).resolve().parent.parent / "data" / "swap-storm" / "driver-output.txt"


def vmstat(**values: int) -> str:
    return "\n".join(f"{name} {value}" for name, value in values.items())


def output(start: float, end: float, before: dict, after: dict, done=(1.5, 2.0)) -> str:
    lines = ["== vmstat before", vmstat(**before), f"== start {start}", f"== end {end}",
             "== vmstat after", vmstat(**after)]
    return "\n".join(lines + [f"== done {n} {start + t}" for n, t in enumerate(done, start=1)]) + "\n"


def test_storm_parse_counts_zero_and_device_swaps():
    config = swap_storm.StormConfig(workers=2, mib=10)
    text = output(100.0, 102.0, {"pswpin": 5, "swpin_zero": 10, "pswpout": 1, "swpout_zero": 2},
                  {"pswpin": 15, "swpin_zero": 30, "pswpout": 11, "swpout_zero": 42})
    storm = swap_storm.parse(config, text)
    assert storm.seconds == 2.0 and storm.worker_seconds == (1.5, 2.0)
    assert (storm.swap_ins, storm.swap_outs) == (30, 50)
    assert (storm.ins_per_second, storm.outs_per_second) == (15.0, 25.0)
    assert storm.as_dict()["delta"]["swpout_zero"] == 40


def test_storm_parse_reads_a_real_guest_run():
    config = swap_storm.StormConfig(workers=2, mib=302, passes=2)
    storm = swap_storm.parse(config, STORM.read_text())
    assert len(storm.worker_seconds) == 2 and 0 < max(storm.worker_seconds) <= storm.seconds
    assert storm.swap_ins > config.mib * 256 and storm.swap_outs > config.mib * 256


def test_storm_parse_names_what_is_missing():
    config = swap_storm.StormConfig(workers=2, mib=10)
    with pytest.raises(HarnessError, match="lacks its start/end or vmstat markers"):
        swap_storm.parse(config, "== vmstat before\npswpin 1\n")
    with pytest.raises(HarnessError, match="expected 2 workers to finish"):
        swap_storm.parse(config, output(1.0, 2.0, {"pswpin": 0}, {"pswpin": 1}, done=(1.0,)))


def test_storm_config_is_checked_and_passed_as_arguments():
    with pytest.raises(HarnessError, match="unknown swap storm data 'ones'"):
        swap_storm.StormConfig(data="ones")
    argv = swap_storm.command(swap_storm.StormConfig(workers=2, mib=64, passes=3, data="pattern"))
    assert argv[:2] == ["sh", "-c"] and argv[5:] == ["2", "64", "3", "1", "/dev/vdb", "600"]


def test_schedule_is_abba_over_versions_and_command_lines():
    plan = scalability.schedule(2)
    first, second = plan[:4], plan[4:]
    assert [(v, c) for _, v, c in second] == [(v, c) for _, v, c in first][::-1]
    assert {(v, c) for _, v, c in first} == {(v, c) for v in scalability.VERSIONS for c in scalability.CMDLINES}


@dataclass
class FakeStorm:
    seconds: float
    ins_per_second: float
    outs_per_second: float


def cell(*walls: float) -> scalability.Cell:
    samples = [scalability.Sample("v", "c", 0, 0, FakeStorm(wall, 1000 / wall, 2000 / wall), 0.0) for wall in walls]
    return scalability.Cell(samples)


def test_summary_ratios_and_spreads():
    cells = {("before", scalability.BASE): cell(10, 11, 12), ("before", scalability.TRACKED): cell(12, 12, 13),
             ("after", scalability.BASE): cell(11, 11, 11), ("after", scalability.TRACKED): cell(11, 11, 11)}
    figures = scalability.summary(cells)
    assert figures["ratios"]["before: swap / baseline"]["wall s"] == pytest.approx(12 / 11)
    assert figures["ratios"]["after: swap / baseline"]["wall s"] == pytest.approx(1.0)
    assert figures["ratios"][f"{scalability.TRACKED}: after / before"]["wall s"] == pytest.approx(11 / 12)
    assert figures["spreads"][f"before {scalability.BASE}"]["wall s"] == pytest.approx(2 / 11)
    assert len(scalability.table(figures)) == 1 + 4 + 4


def test_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv("BENCH_BEFORE", "4a4962d")
    monkeypatch.setenv("BENCH_BOOTS", "3")
    assert scalability.Settings.from_env() == scalability.Settings("4a4962d", "", 3, 2, "zero")
    assert scalability.Settings.from_env().after_dir == PATCHES / "page-owner-swap"
    monkeypatch.setenv("BENCH_AFTER", "/nonexistent/page-owner-swap")
    with pytest.raises(HarnessError, match="not a page-owner-swap series directory"):
        scalability.Settings.from_env().after_dir
    monkeypatch.setenv("BENCH_STORMS", "0")
    with pytest.raises(HarnessError, match="BENCH_STORMS='0'"):
        scalability.Settings.from_env()


def test_export_writes_the_committed_series_under_its_name(tmp_path):
    directory = series_at.export("page-owner-swap", "HEAD", tmp_path)
    assert directory == tmp_path / "page-owner-swap"
    committed = subprocess.run(["git", "-C", str(REPO_ROOT), "show", "HEAD:patches/page-owner-swap/series"],
                               capture_output=True, text=True, check=True).stdout
    assert (directory / "series").read_text() == committed
    loaded = load_series(str(directory))
    assert loaded.name == "page-owner-swap" and len(loaded.patches) == len(load_series("page-owner-swap").patches)
    clean = not subprocess.run(["git", "-C", str(REPO_ROOT), "status", "--porcelain", "patches/page-owner-swap"],
                               capture_output=True, text=True, check=True).stdout
    assert series_at.same_files(directory, PATCHES / "page-owner-swap") == clean


def test_export_names_a_bad_revision_or_series(tmp_path):
    with pytest.raises(HarnessError, match="no-such-rev"):
        series_at.export("page-owner-swap", "no-such-rev", tmp_path)
    with pytest.raises(HarnessError, match="has no patches/no-such-series/series"):
        series_at.export("no-such-series", "HEAD", tmp_path)


def test_with_series_swaps_only_that_series(tmp_path):
    manifest = manifests.load("default")
    changed = series_at.with_series(manifest, "page-owner-swap", tmp_path / "page-owner-swap")
    assert [ref.name for ref in changed.series] == [str(tmp_path / "page-owner-swap"), "swap-table-p4"]
    assert changed.series[1] == manifest.series[1] and changed.builds == manifest.builds
    with pytest.raises(HarnessError, match="has no series 'ghost'"):
        series_at.with_series(manifest, "ghost", tmp_path)
