"""Compare two result sets metric by metric, as mmtests' compare-kernels does.

For every metric both sets measured: mean and standard deviation of each,
the difference of B against A in percent, and Welch's t-test (unequal
variances) over the samples. A difference is called significant only with
at least MIN_RUNS samples on each side and p below `alpha`.
"""

import statistics
from dataclasses import dataclass
from pathlib import Path

from scipy import stats

from harness.results.metrics import Metric, ResultSet

MIN_RUNS = 3


@dataclass(frozen=True)
class Summary:
    runs: int
    mean: float
    sd: float  # sample standard deviation; 0 for a single run

    @classmethod
    def of(cls, samples: tuple[float, ...]) -> "Summary":
        sd = statistics.stdev(samples) if len(samples) > 1 else 0.0
        return cls(len(samples), statistics.fmean(samples), sd)


@dataclass(frozen=True)
class Row:
    name: str
    unit: str
    a: Summary
    b: Summary
    diff_percent: float | None  # None when A's mean is 0
    p_value: float | None  # None when the test cannot be run (too few runs, no variance)
    verdict: str  # "yes", "no", or why there is no verdict
    method: str


def welch(a: tuple[float, ...], b: tuple[float, ...], alpha: float) -> tuple[float | None, str]:
    """Welch's t-test of two sample sets: (p value, verdict)."""
    if min(len(a), len(b)) < MIN_RUNS:
        return None, f"n/a: fewer than {MIN_RUNS} runs"
    if statistics.pvariance(a) == 0 and statistics.pvariance(b) == 0:
        # The t statistic is undefined; constant and equal is no difference, constant and unequal is one.
        return None, "no (constant)" if a[0] == b[0] else "yes (constant)"
    p_value = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
    return p_value, "yes" if p_value < alpha else "no"


def compare_metric(a: Metric, b: Metric, alpha: float) -> Row:
    first, second = Summary.of(a.samples), Summary.of(b.samples)
    diff = None if first.mean == 0 else 100 * (second.mean - first.mean) / abs(first.mean)
    p_value, verdict = welch(a.samples, b.samples, alpha)
    return Row(a.name, a.unit, first, second, diff, p_value, verdict, a.method or b.method)


def compare(a: ResultSet, b: ResultSet, alpha: float = 0.05) -> list[Row]:
    """One row per metric both sets have, by name."""
    return [compare_metric(a.metrics[name], b.metrics[name], alpha)
            for name in sorted(a.metrics.keys() & b.metrics.keys(), key=str.casefold)]


def only_in(a: ResultSet, b: ResultSet) -> list[Metric]:
    return [a.metrics[name] for name in sorted(a.metrics.keys() - b.metrics.keys(), key=str.casefold)]


def _number(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.1f}" if abs(value) >= 1 or value == 0 else f"{value:.2g}"


def _summary(summary: Summary) -> str:
    return f"{_number(summary.mean)} ± {_number(summary.sd)} ({summary.runs})"


def markdown_table(a: ResultSet, b: ResultSet, rows: list[Row], alpha: float = 0.05) -> str:
    header = (f"| metric | unit | A: {a.label} mean ± sd (n) | B: {b.label} mean ± sd (n) "
              f"| B vs A | p (Welch) | significant at {alpha} |")
    lines = [header, "|" + "---|" * 7]
    for row in rows:
        diff = "n/a" if row.diff_percent is None else f"{row.diff_percent:+.1f}%"
        p_value = "n/a" if row.p_value is None else f"{row.p_value:.2g}"
        lines.append(f"| {row.name} | {row.unit} "
                     f"| {_summary(row.a)} | {_summary(row.b)} "
                     f"| {diff} | {p_value} | {row.verdict} |")
    for metric in only_in(a, b):
        lines.append(f"| {metric.name} | {metric.unit} | {_summary(Summary.of(metric.samples))} "
                     f"| not measured | | | |")
    for metric in only_in(b, a):
        lines.append(f"| {metric.name} | {metric.unit} | not measured "
                     f"| {_summary(Summary.of(metric.samples))} | | | |")
    return "\n".join(lines) + "\n"


def methods(rows: list[Row]) -> str:
    """How each metric was measured, one line each, for under the table."""
    return "".join(f"- {row.name}: {row.method}\n" for row in rows if row.method)


@dataclass(frozen=True)
class Plot:
    """One PNG: every metric whose name starts with `prefix`, A's and B's bars side by side."""

    file: str
    title: str
    prefix: str


PLOTS = (
    Plot("static-cost.png", "Static memory cost of swapon, per TiB", "static cost"),
    Plot("zero-pages.png", "Zero-filled pages pushed to swap", "zero pages"),
    Plot("mthp.png", "64 KiB mTHP swap counters per round", "mTHP 64 KiB"),
)


def _tick(name: str, prefix: str) -> str:
    """`prefix: what` is labelled `what`; any other name in full."""
    return name.removeprefix(prefix + ": ") if name.startswith(prefix + ": ") else name


def plot(a: ResultSet, b: ResultSet, directory: Path, stem: str) -> list[Path]:
    """The PNGs of PLOTS that have data: bars of the mean, the sd as error bars, and no bar
    where a kernel does not have the counter."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot

    written = []
    for spec in PLOTS:
        names = sorted({name for result in (a, b) for name in result.metrics if name.startswith(spec.prefix)},
                       key=str.casefold)
        if not names:
            continue
        figure, axes = pyplot.subplots(figsize=(max(4.0, 1.8 * len(names)), 3.6))
        width = 0.38
        for offset, result in ((-width / 2, a), (width / 2, b)):
            summaries = [Summary.of(result.metrics[name].samples) if name in result.metrics else None
                         for name in names]
            axes.bar([p + offset for p, s in enumerate(summaries) if s], [s.mean for s in summaries if s], width,
                     yerr=[s.sd for s in summaries if s], capsize=4, label=result.label)
        axes.set_xticks(range(len(names)), [_tick(name, spec.prefix) for name in names],
                        rotation=15 if len(names) > 3 else 0)
        units = sorted({result.metrics[name].unit for result in (a, b) for name in names if name in result.metrics})
        axes.set_ylabel(", ".join(units))
        axes.set_title(spec.title)
        axes.legend()
        figure.tight_layout()
        path = directory / f"{stem}-{spec.file}"
        figure.savefig(path, dpi=100)
        pyplot.close(figure)
        written.append(path)
    return written
