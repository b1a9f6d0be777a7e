"""Record the TAP results each selftest program prints: harness/selftests/subtests.yaml.

    python -m harness.selftests.record [--manifest selftests-7.3@v7.3] [--cmdline page_owner=on]

Builds the kernel and its tree's selftests, boots it, runs every program of
programs.yaml and writes the labels each printed, in order. The pytest items
of tests/kernel/test_selftests.py are generated from that file, and each live
run must print exactly those results again. Record on unpatched 7.3 (the
default): the list is what the tree's selftests print, not what passed.
"""

from __future__ import annotations

import argparse
import sys
import time

from harness import paths
from harness.build import manifest as manifests
from harness.errors import HarnessError
from harness.run import session as boot_session
from harness.selftests import catalog, session


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.selftests.record", description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", default="selftests-7.3@v7.3")
    parser.add_argument("--cmdline", default="page_owner=on")
    parser.add_argument("--out", default=str(catalog.SUBTESTS))
    args = parser.parse_args(argv)
    try:
        programs = catalog.load()
        kernel = boot_session.kernel_under_test(manifests.load(args.manifest))
        image = boot_session.guest_image(kernel.manifest.guest)
        directory = paths.new_results_dir("selftests-record")
        run = session.run_kernel(kernel, args.cmdline, programs, image, directory)
        if run.error:
            raise HarnessError(f"the run failed: {run.error}", artifacts=[str(directory)])
        labels = {}
        for program_id, live in run.runs.items():
            complete = next((one for one in (live, live.retry) if one is not None and one.tap.complete), None)
            if complete is None:
                raise HarnessError(f"{program_id} printed {len(live.tap.results)} of {live.tap.plan} results "
                                   "(its retry too): record from a run where every program completes",
                                   artifacts=[str(live.log)])
            labels[program_id] = [result.label for result in complete.tap.results]
            numbers = [result.number for result in complete.tap.results]
            if numbers != list(range(1, len(numbers) + 1)):
                raise HarnessError(f"{program_id}: results are not numbered 1..N: {numbers[:20]}",
                                   artifacts=[str(live.log)])
        header = (f"Recorded by `python -m harness.selftests.record` on {time.strftime('%Y-%m-%d')}:\n"
                  f"{kernel.manifest.name} {kernel.label}, booted with {args.cmdline!r}, results in {directory}.\n"
                  "The TAP labels each program printed, in order (result N is the N-th). Regenerate when\n"
                  "the tree's selftests change; tests/kernel/test_selftests.py makes one item per entry.\n")
        catalog.dump_subtests(labels, header, path=catalog.Path(args.out))
        print(f"wrote {args.out}: " + ", ".join(f"{p} {len(v)}" for p, v in labels.items()))
        return 0
    except HarnessError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
