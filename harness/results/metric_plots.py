"""The metrics of a report: a row per metric and kernel, and one PNG per test function."""

import math
import statistics
from dataclasses import dataclass
from pathlib import Path

from harness.results.report_model import Report

@dataclass(frozen=True)
class MetricRow:
    name: str
    unit: str
    kernel: str
    n: int
    mean: float
    sd: float
    samples: tuple[float, ...]
    method: str
    test: str


@dataclass(frozen=True)
class MetricGroup:
    test: str  # the test function
    rows: tuple[MetricRow, ...]
    image: str  # the PNG beside the page, "" when there is nothing to plot


def metric_groups(report: Report) -> list[tuple[str, list[MetricRow]]]:
    groups: dict[str, list[MetricRow]] = {}
    for test in sorted(report.tests, key=lambda t: (t.group, t.kernel, t.name)):
        for metric in test.metrics:
            samples = metric.samples
            groups.setdefault(test.group, []).append(MetricRow(
                metric.name, metric.unit, test.kernel or test.manifest or test.name, len(samples),
                statistics.fmean(samples) if samples else math.nan,
                statistics.stdev(samples) if len(samples) > 1 else 0.0,
                samples, metric.method, test.name))
    for rows in groups.values():
        rows.sort(key=lambda row: (row.name, row.kernel))
    return sorted(groups.items())


def plot_group(test: str, rows: list[MetricRow], path: Path) -> None:
    """One subplot per metric: each kernel's samples as dots and their mean as a bar."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    names = list(dict.fromkeys(row.name for row in rows))
    columns = min(3, len(names))
    lines = math.ceil(len(names) / columns)
    fig, axes = pyplot.subplots(lines, columns, figsize=(4.2 * columns, 3.2 * lines), squeeze=False)
    for index, name in enumerate(names):
        axis = axes[index // columns][index % columns]
        mine = [row for row in rows if row.name == name]
        kernels = [row.kernel for row in mine]
        axis.bar(range(len(mine)), [row.mean for row in mine], color="#9ecae1", width=0.6, label="mean")
        for position, row in enumerate(mine):
            axis.plot([position] * row.n, row.samples, "o", color="#08519c", markersize=4)
        axis.set_xticks(range(len(mine)), kernels, fontsize=7, rotation=10)
        axis.set_title(name, fontsize=9)
        axis.set_ylabel(mine[0].unit, fontsize=8)
        axis.tick_params(axis="y", labelsize=7)
    for index in range(len(names), lines * columns):
        axes[index // columns][index % columns].axis("off")
    fig.suptitle(test, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    pyplot.close(fig)

