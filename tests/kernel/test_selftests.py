"""The kernel's own swap selftests as a peer suite, one pytest item per TAP result.

Programs, arguments and the results expected to be other than a pass (with
why) are data: harness/selftests/programs.yaml. They are built on the host
from each kernel's own tree (harness/selftests/build.py), unpacked in the
guest and run one after the other in one boot per kernel (a second boot for
the zswap programs, harness/selftests/session.py).

Items are generated from the recorded list of TAP results,
harness/selftests/subtests.yaml (written by `python -m
harness.selftests.record` from a real run): `test_subtest[KERNEL-PROGRAM-NNN-LABEL]`
looks up result NNN of PROGRAM in that kernel's live run and checks that it
is the recorded one and that it passed, or did what the catalog expects
(a skip or a failure, with its reason, reported as skip or xfail); anything
else fails, an unexpected skip included. `test_program[KERNEL-PROGRAM]`
checks that the live run printed exactly the recorded results (a program
that stops early or gains a case fails there). The live run of a kernel is
made once, by its first item, and shared by all of them.

The two kernels are the manifest selftests-7.3: unpatched 7.3 booted with
`page_owner=on` and 7.3 with the page_owner swap series booted with
`page_owner=on,swap`. The rule between them: no result that passes on
unpatched 7.3 may be anything but a pass on the patched kernel; every
patched item also runs the 7.3 programs (once) to check it.
"""

from __future__ import annotations

import pytest

from harness.results.parse import ktap
from harness.selftests import catalog, session

CATALOG = catalog.load()
RECORDED = catalog.load_subtests()
BASELINE = "v7.3"
KERNELS = session.KERNELS  # name -> (manifest, command line)
pytestmark = [pytest.mark.boot, pytest.mark.selftests]


class Runs:
    """Each kernel's KernelRun, made on first use."""

    def __init__(self, harness_session):
        self.harness = harness_session
        self.kernels: dict[str, session.KernelRun] = {}

    def __call__(self, name: str) -> session.KernelRun:
        if name not in self.kernels:
            manifest, cmdline = KERNELS[name]
            try:
                kernel = self.harness.kernel(manifest, None)
            except Exception as error:  # a failed kernel build fails every item of that kernel
                pytest.fail(f"{manifest}: the kernel could not be built: {error}", pytrace=False)
            image = self.harness.guest(kernel.manifest.guest)
            directory = self.harness.run_dir / f"selftests-{name}"
            say = lambda text: self.harness.say(f"[{name}] {text}")  # noqa: E731
            self.kernels[name] = session.run_kernel(
                kernel, cmdline, CATALOG, image, directory, say,
                on_exit=lambda vm: self.harness.note(f"selftests-{name}/{vm.results_dir.name}", vm))
        return self.kernels[name]


@pytest.fixture(scope="session")
def runs(harness_session) -> Runs:
    return Runs(harness_session)


def _live(runs: Runs, kernel: str, program: str):
    run = runs(kernel)
    live = run.runs.get(program)
    if live is None:
        pytest.fail(f"{program} did not run on {kernel}: {run.error or 'no run recorded'}", pytrace=False)
    return run, live


def _describe(result: ktap.Result, log_lines: int = 25) -> str:
    log = "\n    ".join(result.log[-log_lines:])
    return f"TAP line {result.line}: {result.status} {result.label!r}" + (f"\n    {log}" if log else "")


def _passed(live, subtest) -> bool:
    """Whether a program run (or None) printed `subtest` and it passed."""
    result = live.result(subtest.number) if live is not None else None
    return result is not None and result.label == subtest.label and result.status == ktap.PASS


SUBTEST_PARAMS = [pytest.param(kernel, one, id=f"{kernel}-{one.id}") for kernel in KERNELS for one in RECORDED]
PROGRAM_PARAMS = [pytest.param(kernel, program.id, id=f"{kernel}-{program.id}")
                  for kernel in KERNELS for program in CATALOG.programs]


@pytest.mark.parametrize("kernel, program", PROGRAM_PARAMS)
def test_program(kernel, program, runs):
    run, live = _live(runs, kernel, program)
    recorded = [(one.number, one.label) for one in RECORDED if one.program == program]
    complete = live if live.tap.complete or live.retry is None else live.retry
    printed = [(one.number, one.label) for one in complete.tap.results]
    assert not complete.killed, f"{program} was killed after its timeout ({live.program.timeout:g} s): see {live.log}"
    assert recorded, (f"no recorded results for {program}: run `python -m harness.selftests.record` "
                      "and commit harness/selftests/subtests.yaml")
    missing = [f"{n} {label}" for n, label in recorded if (n, label) not in printed]
    extra = [f"{n} {label}" for n, label in printed if (n, label) not in recorded]
    assert not missing and not extra, (
        f"{program} on {kernel} printed other results than recorded ({live.log}):\n"
        f"  missing: {missing[:10]}\n  new: {extra[:10]}\n"
        "if the tree's selftests changed, record them again (python -m harness.selftests.record)")
    assert complete.tap.complete, f"{program}: plan {complete.tap.plan}, {len(complete.tap.results)} results ({live.log})"
    assert run.error == "", run.error


@pytest.mark.parametrize("kernel, subtest", SUBTEST_PARAMS)
def test_subtest(kernel, subtest, runs, request):
    run, live = _live(runs, kernel, subtest.program)
    result = live.result(subtest.number)
    if result is None and _passed(live.retry, subtest):
        request.node.user_properties.append(("flaky", f"not printed first, passed on the retry ({live.log})"))
        return
    if result is None:
        pytest.fail(f"result {subtest.number} ({subtest.label}) was not printed on {kernel} "
                    f"(exit {live.status}{', killed by the timeout' if live.killed else ''}): {live.log}"
                    + (f"\n{run.error}" if run.error else ""), pytrace=False)
    assert result.label == subtest.label, f"result {subtest.number} is {result.label!r} here ({live.log})"
    if result.status == ktap.PASS:
        return
    if _passed(live.retry, subtest):
        request.node.user_properties.append(("flaky", f"{result.status} first, passed on the retry ({live.log})"))
        return
    expected = CATALOG.expectation(subtest.program, result.label)
    if expected is not None and expected.status == "flaky" and result.status in (ktap.FAIL, ktap.ERROR):
        pytest.xfail(f"flaky here, on either kernel: {expected.reason}")
    if kernel != BASELINE:
        _, baseline = _live(runs, BASELINE, subtest.program)
        if _passed(baseline, subtest) or _passed(baseline.retry, subtest):
            pytest.fail(f"regression: passes on unpatched 7.3, {result.status} with the series\n"
                        f"{_describe(result)}\n({live.log})", pytrace=False)
    if result.status == ktap.XFAIL:  # the selftest itself says this failure is expected
        pytest.xfail(f"kselftest XFAIL: {result.reason}")
    if result.status == ktap.SKIP:
        if expected is not None and expected.status == "skip":
            pytest.skip(f"expected here: {expected.reason}")
        pytest.fail(f"unexpected skip (not in harness/selftests/programs.yaml):\n{_describe(result)}", pytrace=False)
    if expected is not None and expected.status == "fail":
        pytest.xfail(f"expected here (fails on unpatched 7.3 too): {expected.reason}")
    pytest.fail(f"{result.status}:\n{_describe(result)}\n({live.log})", pytrace=False)
