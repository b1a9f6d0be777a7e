"""Cold start: a kernel build with an empty ccache, again in a new build directory, and in another tree.

The same verified .config (page_owner=y, swap_page_owner=n) is built three
times with a ccache of its own (a temporary CCACHE_DIR, so the harness's
cache is neither used nor filled): cold in the base tree, warm in a new O=
directory of the base tree, and warm in the page_owner swap series'
worktree (the case a patch edit creates). The baseline is the cold build.
The builds' O= directories are children of their trees, as the harness
builds (pipeline.work_dir_for), and are removed afterwards.
"""

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness.build import kbuild, manifest as manifests, pipeline
from harness.errors import HarnessError

PROFILE_LABEL = "page-owner[page_owner=y,swap_page_owner=n]"


@dataclass(frozen=True)
class Stats:
    hits: int
    misses: int

    @property
    def hit_rate(self) -> float:
        return self.hits / (self.hits + self.misses) if self.hits + self.misses else 0.0


def ccache_stats(env: dict[str, str]) -> Stats:
    out = subprocess.run(["ccache", "--print-stats"], env=env, capture_output=True, text=True, check=True).stdout
    values = dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line)
    hits = int(values.get("direct_cache_hit", 0)) + int(values.get("preprocessed_cache_hit", 0))
    return Stats(hits, int(values.get("cache_miss", 0)))


def configured(manifest_name: str) -> pipeline.ConfiguredBuild:
    manifest = manifests.load(manifest_name)
    patched = pipeline.patch(manifest, pipeline.fetch(manifest))
    ref = next(ref for ref in manifest.builds if ref.label == PROFILE_LABEL)
    return pipeline.configure(ref, patched, say=lambda text: None)


def timed_make(tree: Path, out: Path, config_text: str, env: dict[str, str]) -> tuple[float, Stats]:
    out.mkdir(parents=True)
    (out / ".config").write_text(config_text)
    subprocess.run(["ccache", "--zero-stats"], env=env, check=True, capture_output=True)
    command = ["make", "-C", str(tree), f"O={out}", "ARCH=x86_64", f"-j{os.cpu_count() or 1}", "CC=ccache gcc",
               *kbuild.TARGETS]
    started = time.monotonic()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if result.returncode != 0:
        raise HarnessError(f"bench build in {out} failed: {result.stdout[-2000:]}{result.stderr[-2000:]}")
    return seconds, ccache_stats(env)


def bench_build():
    base = configured("upstream-7.3")
    series = configured("default")
    differ = set(kbuild.normalized_config(base.config_text).splitlines()) ^ set(
        kbuild.normalized_config(series.config_text).splitlines())
    if differ - {"# CONFIG_SWAP_PAGE_OWNER is not set"}:
        yield "note: the two trees' .config differ beyond SWAP_PAGE_OWNER; the cross-tree figure includes that"
    yield (f"{PROFILE_LABEL}: {base.patched.tree.identity} (base) and {series.patched.tree.identity} "
           f"(page_owner swap series); {os.cpu_count()} CPUs, a ccache of its own")
    with tempfile.TemporaryDirectory(prefix="mmharness-bench-ccache-") as ccache_dir:
        env = dict(os.environ, CCACHE_DIR=ccache_dir, CCACHE_BASEDIR=str(base.patched.tree.path.parent))
        runs = [("cold, empty ccache", base, "cold"), ("warm, new O= in the same tree", base, "same"),
                ("warm, series worktree", series, "other")]
        rows = []
        out_dirs = []
        try:
            for what, build, name in runs:
                out = build.patched.tree.path / f".mmharness-bench-{name}"
                shutil.rmtree(out, ignore_errors=True)
                out_dirs.append(out)
                seconds, stats = timed_make(build.patched.tree.path, out, build.config_text, env)
                rows.append((what, seconds, stats))
                yield f"  {what}: {seconds:.0f} s"
        finally:
            for out in out_dirs:
                shutil.rmtree(out, ignore_errors=True)
    cold = rows[0][1]
    yield f"{'build':<32}{'s':>7}{'x cold':>8}{'ccache hits':>13}{'misses':>8}{'hit rate':>10}"
    for what, seconds, stats in rows:
        yield (f"{what:<32}{seconds:7.0f}{seconds / cold:8.2f}{stats.hits:13d}{stats.misses:8d}"
               f"{stats.hit_rate:10.1%}")
