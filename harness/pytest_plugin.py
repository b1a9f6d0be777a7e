"""pytest plugin: `kernel`, `machine` and `shell` fixtures over the real pipeline.

Markers choose what a test boots:
    @pytest.mark.manifest("upstream-7.3")   # which manifest's kernel (default: --manifest)
    @pytest.mark.cmdline("page_owner=on")    # appended to the kernel command line
    @pytest.mark.machine(memory_mb=768)      # MachineSpec overrides
    @pytest.mark.build_label("page-owner[page_owner=y,swap_page_owner=y]")  # which build
A kernel crash seen on the console fails the test with the crash excerpt; on
a kernel with CONFIG_DEBUG_KMEMLEAK=y, so does a leak kmemleak finds after the
test (harness.pytest_kmemleak). A build_label the manifest lacks stands for
its only bootable variant of that build (harness.build.pipeline.stand_in), so
the y/y suite runs on page-owner-swap-debug's debug y/y.
Per test, console.log, commands.log and metadata.json land in the results dir,
and the JUnit XML of the run carries each test's kernel and command line.
Tests that boot a guest (they use `machine`, `shell` or `boot`) are marked
`boot`, so `-m "not boot"` leaves them out. Under pytest-xdist each worker has
its own results directory; builds and guest images are made once (locked).
At the end every results directory of the run gets report.html
(harness.pytest_reports; --no-report leaves it out).
"""

import contextlib
import json
import os
import time
from dataclasses import replace
from pathlib import Path

import pytest

from harness import paths, pytest_kmemleak, pytest_reports
from harness.build import guest, manifest as manifests, pipeline
from harness.build.pipeline import KernelUnderTest
from harness.results import crash
from harness.run import reproduce, run_metadata, session as boot_session
from harness.run.machine import Machine, MachineSpec


def pytest_addoption(parser):
    group = parser.getgroup("mmharness")
    group.addoption("--manifest", default="default", help="manifest whose kernel the tests boot")
    group.addoption("--kernel", default=None, help="boot this vmlinux instead of building the manifest's")
    group.addoption("--accel", choices=("auto", "kvm", "tcg"), default=None,
                    help="QEMU accelerator (default: $MMHARNESS_ACCEL, else auto: kvm where usable)")
    group.addoption("--results-dir", default=None,
                    help="where each run's results directory goes (default: $MMHARNESS_RESULTS, else ./results)")
    group.addoption("--no-report", action="store_true",
                    help="do not write report.html into the results directory at the end of the run")


MARKERS = (
    "manifest(name): build and boot this manifest's kernel",
    "cmdline(text): extra kernel command line for the machine fixture",
    "machine(**spec): MachineSpec overrides for the machine fixture",
    "build_label(label): which of the manifest's builds to boot",
    "boot: boots a guest (set on every test that uses machine, shell or boot)",
    "build_only: needs only a built kernel",
    "build_matrix: builds every configuration of a manifest (make test-kernel and make nightly, not make check)",
    "baseline_kernel: runs on the kernel before the change under test (make nightly, not make test-kernel)",
    "selftests: the kernel's own selftests on two kernels (make test-selftests, not make check or test-kernel)",
)
BOOT_FIXTURES = {"machine", "shell", "boot"}
ENVIRONMENT = pytest.StashKey[dict[str, str | None]]()
LEAK_CHECK = pytest.StashKey[pytest_kmemleak.LeakCheck]()  # the machine fixture's, checked after the test


def pytest_configure(config):
    for line in MARKERS:
        config.addinivalue_line("markers", line)
    # The options win over the environment; the harness's modules read the environment.
    results_dir = config.getoption("--results-dir")
    settings = {"MMHARNESS_ACCEL": config.getoption("--accel"),
                "MMHARNESS_RESULTS": results_dir and str(Path(results_dir).resolve())}
    config.stash[ENVIRONMENT] = {variable: os.environ.get(variable) for variable, value in settings.items() if value}
    for variable, value in settings.items():
        if value:
            os.environ[variable] = value
    config.pluginmanager.register(pytest_reports.RunReports(config, lambda: _own_run_dir(config)), "mmharness-reports")


def _own_run_dir(config) -> Path | None:
    session = config.stash.get(SESSION, None)
    return session.run_dir if session is not None else None


def pytest_unconfigure(config):
    for variable, value in config.stash.get(ENVIRONMENT, {}).items():  # as before pytest_configure
        if value is None:
            os.environ.pop(variable, None)
        else:
            os.environ[variable] = value


def pytest_collection_modifyitems(items):
    for item in items:
        if BOOT_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.boot)


class Session:
    """Builds, guests and figures shared by the whole test session."""

    def __init__(self, config):
        self.config = config
        self.kernels: dict[tuple[str, str], KernelUnderTest] = {}
        self.guests: dict[str, guest.GuestImage] = {}
        self.figures: list[tuple[str, str]] = []
        self.notices: list[str] = []  # non-fatal console reports, e.g. page allocation failures
        worker = getattr(config, "workerinput", {}).get("workerid")  # pytest-xdist: gw0, gw1, ...
        self.run_dir = paths.new_results_dir(paths.kernel_run_label(worker))
        run_metadata.start(self.run_dir)  # RUN_DIR/metadata.json: harness, host, QEMU, compiler

    def say(self, text: str) -> None:
        capture = self.config.pluginmanager.getplugin("capturemanager")
        reporter = self.config.pluginmanager.getplugin("terminalreporter")
        if capture and reporter:
            with capture.global_and_fixture_disabled():
                reporter.write_line(text)
        else:
            print(text)

    def kernel(self, manifest_name: str, label: str | None) -> KernelUnderTest:
        if label is not None and not self.config.getoption("--kernel"):
            chosen = pipeline.stand_in(manifests.load(manifest_name), label)
            if chosen != label and (manifest_name, chosen) not in self.kernels:
                self.say(f"[{manifest_name}] no build {label}: using {chosen}")
            label = chosen
        key = (manifest_name, label or "")
        if key not in self.kernels:
            self.kernels[key] = self._build(manifest_name, label)
            run_metadata.add_kernel(self.run_dir, self.kernels[key])  # tree, series, .config, phases
        return self.kernels[key]

    def _build(self, manifest_name: str, label: str | None) -> KernelUnderTest:
        manifest = manifests.load(manifest_name)
        override = self.config.getoption("--kernel")
        return boot_session.kernel_under_test(manifest, label, vmlinux=Path(override) if override else None,
                                              say=lambda text: self.say(f"[{manifest.name}] {text}"))

    def note(self, test: str, vm: Machine) -> list[str]:
        found = [f"{r.kind}: {r.title} ({vm.console_log}:{r.line})" for r in vm.notices()]
        self.notices.extend(f"{test}: {text}" for text in found)
        return found

    def guest(self, name: str) -> guest.GuestImage:
        if name not in self.guests:
            self.guests[name] = boot_session.guest_image(name, say=self.say)
        return self.guests[name]


SESSION = pytest.StashKey[Session]()


@pytest.fixture(scope="session")
def harness_session(request) -> Session:
    session = Session(request.config)
    request.config.stash[SESSION] = session
    return session


def _marker_arg(request, name: str, default=None):
    marker = request.node.get_closest_marker(name)
    return marker.args[0] if marker and marker.args else default


@pytest.fixture
def kernel(request, harness_session) -> KernelUnderTest:
    name = _marker_arg(request, "manifest", request.config.getoption("--manifest"))
    return harness_session.kernel(name, _marker_arg(request, "build_label"))


@pytest.fixture
def results_dir(request, harness_session) -> Path:
    name = paths.safe_name(request.node.nodeid.split("::", 1)[-1])
    path = harness_session.run_dir / name
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def machine_spec(request, kernel) -> MachineSpec:
    marker = request.node.get_closest_marker("machine")
    overrides = boot_session.Overrides.of(_marker_arg(request, "cmdline", ""), marker.kwargs if marker else None)
    return pytest_kmemleak.judged(kernel, boot_session.machine_spec(kernel, overrides))


@pytest.fixture
def machine(request, kernel, machine_spec, results_dir, harness_session):
    image = harness_session.guest(kernel.manifest.guest)
    started = time.monotonic()
    metadata = {"test": request.node.nodeid, "manifest": kernel.manifest.name, "build": kernel.label,
                "vmlinux": str(kernel.vmlinux), "series": list(kernel.series),
                "cmdline": machine_spec.cmdline, "memory_mb": machine_spec.memory_mb}
    (results_dir / "metadata.json").write_text(json.dumps(metadata, indent=2))
    reproduce.write(results_dir, kernel.manifest.reference, kernel.label, machine_spec)

    def on_exit(vm: Machine) -> None:
        if vm.phase == "boot":  # the boot failed: metadata.json stays as it was written before it
            return
        metadata["notices"] = harness_session.note(request.node.nodeid, vm)
        (results_dir / "metadata.json").write_text(json.dumps(metadata, indent=2))

    # Leaving the block shuts the VM down and raises on a crash at any time, shutdown included.
    request.node.user_properties.extend([("kernel", f"{kernel.manifest.name} {kernel.label}"),
                                         ("cmdline", machine_spec.cmdline), ("results", str(results_dir))])
    with boot_session.booted(machine_spec, image, results_dir, on_exit=on_exit) as vm:
        metadata.update(accel=vm.accel, boot_seconds=round(time.monotonic() - started, 1))
        leak_check = pytest_kmemleak.after_boot(vm, kernel, results_dir)
        if leak_check is not None:
            request.node.stash[LEAK_CHECK] = leak_check
        yield vm


@pytest.fixture
def shell(machine):
    return machine.shell()


@pytest.fixture
def boot(request, kernel, machine_spec, results_dir, harness_session):
    """Boot several machines in one test: `with boot("page_owner=on,swap") as vm: ...`.

    Each gets its own results subdirectory; leaving the block shuts it down
    and raises if the kernel crashed at any time, shutdown included."""
    image = harness_session.guest(kernel.manifest.guest)

    @contextlib.contextmanager
    def start(cmdline: str, name: str = "", **overrides):
        spec = replace(machine_spec, cmdline=cmdline, **overrides)
        directory = results_dir / paths.safe_name(name or cmdline or "default")
        request.node.user_properties.append(("boot", f"{kernel.manifest.name} {kernel.label}: {cmdline}"))
        reproduce.write(directory, kernel.manifest.reference, kernel.label, spec)
        with boot_session.booted(spec, image, directory,
                                 on_exit=lambda vm: harness_session.note(directory.name, vm)) as vm:
            leak_check = pytest_kmemleak.after_boot(vm, kernel, directory)
            yield vm
            if leak_check is not None:  # the block ended without an error
                pytest_kmemleak.check(vm, leak_check, harness_session.notices)
    return start


@pytest.fixture
def figures(request, harness_session):
    """Tables a test wants printed at the end of the session (and kept in the results and the JUnit XML)."""
    def add(title: str, text: str) -> None:
        harness_session.figures.append((title, text))
        request.node.user_properties.append((f"figure: {title}", text))
        with (harness_session.run_dir / "figures.txt").open("a") as out:
            out.write(f"## {title}\n{text}\n\n")
    return add


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    result = yield  # a test that failed raises here, with its own error
    vm = item.funcargs.get("machine") if hasattr(item, "funcargs") else None
    if vm is None:
        return result
    leak_check = item.stash.get(LEAK_CHECK, None)
    if leak_check is not None:
        pytest_kmemleak.check(vm, leak_check, item.config.stash[SESSION].notices)
    reports = vm.crashes()
    if reports:
        pytest.fail(f"the kernel crashed during the test:\n{crash.summary(reports)}\n"
                    f"console: {vm.console_log}", pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item):
    result = yield  # after the fixtures' teardown: the test's metadata.json is final
    session = item.config.stash.get(SESSION, None)
    if session is not None:
        run_metadata.refresh(session.run_dir)  # the boot seconds of the tests so far
    return result


def pytest_terminal_summary(terminalreporter, config):
    session = config.stash.get(SESSION, None)
    if session is not None:
        for title, text in session.figures:
            terminalreporter.write_sep("=", title)
            terminalreporter.write_line(text)
        if session.notices:
            terminalreporter.write_sep("=", "kernel notices (not failures)")
            for text in session.notices:
                terminalreporter.write_line(text)
        terminalreporter.write_line(f"results: {session.run_dir}")
