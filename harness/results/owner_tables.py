"""Per-comm MiB of the page_owner / swap_page_owner dumps a test kept: one table per boot's round trip."""

import re
from dataclasses import dataclass
from pathlib import Path

OWNER_DUMP = re.compile(r"^(?P<kind>swap_page_owner|page_owner)-(?P<step>.+)\.txt(\.gz|\.xz)?$")
STEP_ORDER = ("start", "dd", "DD", "cat")  # harness.run.workloads.round_trip's snapshots
OWNER_COMMS = 6  # columns per owner table, besides the total


@dataclass(frozen=True)
class OwnerTable:
    """MiB by comm of the owner dumps in one directory (one boot's round trip)."""

    directory: str  # relative to the results directory
    kind: str  # page_owner or swap_page_owner
    steps: tuple[str, ...]
    comms: tuple[str, ...]
    mib: dict[tuple[str, str], float]  # (step, comm) -> MiB
    total: dict[str, float]  # step -> MiB
    swapped: dict[str, float]  # step -> MiB of records marked (swapped)
    files: dict[str, str]  # step -> dump, relative to the results directory
    errors: dict[str, str]  # step -> why the dump could not be read



def step_key(step: str) -> tuple[int, str]:
    return (STEP_ORDER.index(step) if step in STEP_ORDER else len(STEP_ORDER), step)


def owner_tables(run_dir: Path, test_dir: Path) -> list[OwnerTable]:
    """Per-comm MiB of each page_owner / swap_page_owner dump under `test_dir`, one table per directory and kind."""
    from harness.results.parse import aggregate  # the parser loads only when there are dumps
    from harness.results.parse.textio import open_dump

    dumps: dict[tuple[Path, str], dict[str, Path]] = {}
    for path in sorted(test_dir.rglob("*page_owner-*")):
        found = OWNER_DUMP.match(path.name)
        if found and path.is_file():
            dumps.setdefault((path.parent, found.group("kind")), {})[found.group("step")] = path
    tables = []
    for (directory, kind), by_step in sorted(dumps.items()):
        steps = tuple(sorted(by_step, key=step_key))
        summaries, errors = {}, {}
        for step in steps:
            try:
                with open_dump(by_step[step]) as dump:
                    summaries[step] = aggregate.summarise(dump, dimensions=("comm", "swapped"))
            except Exception as error:  # a truncated gzip of a killed run, an empty file, ...
                errors[step] = f"{type(error).__name__}: {error}"
        ranked: list[str] = []
        for step in steps:
            if step in summaries:
                for comm, _ in summaries[step].top("comm", OWNER_COMMS):
                    if str(comm) not in ranked:
                        ranked.append(str(comm))
        totals = {comm: max((s.mib("comm").get(comm, 0.0) for s in summaries.values()), default=0.0)
                  for comm in ranked}
        comms = tuple(sorted(ranked, key=lambda comm: -totals[comm])[:OWNER_COMMS])
        tables.append(OwnerTable(
            directory=str(directory.relative_to(run_dir)), kind=kind, steps=steps, comms=comms,
            mib={(step, comm): summary.mib("comm").get(comm, 0.0)
                 for step, summary in summaries.items() for comm in comms},
            total={step: summary.total_mib for step, summary in summaries.items()},
            swapped={step: summary.mib("swapped").get(True, 0.0) for step, summary in summaries.items()},
            files={step: str(path.relative_to(run_dir)) for step, path in by_step.items()},
            errors=errors))
    return tables
