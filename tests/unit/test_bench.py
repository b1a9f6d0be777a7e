"""The benchmark registry and runner (the benchmarks themselves need a VM or seconds of CPU)."""

import os
import subprocess

import pytest

from harness import bench


@pytest.mark.parametrize("name", list(bench.BENCHMARKS))
def test_every_registered_benchmark_resolves(name):
    assert callable(bench.load(name))


def test_runner_prints_lines_and_names_unknown_benchmarks(monkeypatch, capsys):
    monkeypatch.setitem(bench.BENCHMARKS, "fake", "parse:bench_parse")
    monkeypatch.setattr("harness.bench.parse.bench_parse", lambda: iter(["line 1", "line 2"]))
    assert bench.main(["fake"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:3] == ["== fake", "line 1", "line 2"] and out[3].startswith("== fake: ")
    assert bench.main(["fake", "nope"]) == 2
    assert "unknown benchmark(s): nope" in capsys.readouterr().err


def test_ccache_stats_count_a_real_hit(tmp_path):
    from harness.bench import build as bench_build

    env = dict(os.environ, CCACHE_DIR=str(tmp_path / "ccache"))
    source = tmp_path / "x.c"
    source.write_text("int answer(void) { return 42; }\n")
    for _ in range(2):
        subprocess.run(["ccache", "gcc", "-c", str(source), "-o", str(tmp_path / "x.o")], env=env, check=True)
    stats = bench_build.ccache_stats(env)
    assert (stats.hits, stats.misses) == (1, 1) and stats.hit_rate == 0.5
