"""Where the harness keeps expensive things (cache) and per-run output (results)."""

import os
import re
import time
from pathlib import Path

PROJECT = "mmharness"
REPO_ROOT = Path(__file__).resolve().parent.parent


def cache_root() -> Path:
    """Cache outside the repository so clones and CI share trees and builds."""
    override = os.environ.get("MMHARNESS_CACHE")
    if override:
        root = Path(override)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        root = Path(xdg) / PROJECT
    root.mkdir(parents=True, exist_ok=True)
    return root


def cache_dir(*parts: str) -> Path:
    path = cache_root().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def results_root() -> Path:
    override = os.environ.get("MMHARNESS_RESULTS")
    return Path(override) if override else REPO_ROOT / "results"


def new_results_dir(label: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = results_root() / f"{stamp}-{label}-{os.getpid()}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def kernel_run_label(worker: str | None = None) -> str:
    """The label of a kernel pytest run's results directory; `worker` is pytest-xdist's (gw0, ...)."""
    return f"kernel-{worker}" if worker else "kernel"


def is_xdist_worker_run(run_dir: Path) -> bool:
    """Whether a results directory is one xdist worker's (named by kernel_run_label)."""
    return re.search(r"-kernel-gw\d+-\d+$", run_dir.name) is not None


def safe_name(text: str) -> str:
    """A file or directory name for a label, test id or command line: runs of
    anything but word characters, dots and dashes become one underscore."""
    return re.sub(r"[^\w.-]+", "_", text)
