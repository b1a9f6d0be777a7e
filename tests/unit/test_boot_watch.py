"""harness.run.boot_watch: what the console says of a boot, without QEMU."""

from harness.run.boot_watch import BootFailure, BootWatch, Started

WATCH = BootWatch(marker="READY-1234", timeout=10, fixed_port=0)


def test_nothing_yet_while_qemu_runs_within_the_timeout():
    assert WATCH.verdict("Linux version 7.3\n", None, 2222, 1.0) is None


def test_the_marker_means_ready_even_after_other_lines():
    assert WATCH.verdict("booting\nREADY-1234\n", None, 2222, 1.0) is Started.READY


def test_init_failure_names_its_line():
    verdict = WATCH.verdict("mmharness-init: FATAL: sshd did not start\nmore\n", None, 2222, 1.0)
    assert isinstance(verdict, BootFailure)
    assert verdict.what == "the guest's init failed: mmharness-init: FATAL: sshd did not start"


def test_a_panic_waits_for_the_rest_of_its_report():
    verdict = WATCH.verdict("Kernel panic - not syncing: VFS\n", None, 2222, 1.0)
    assert isinstance(verdict, BootFailure) and verdict.panicked


def test_port_taken_retries_unless_the_port_was_fixed():
    text = "qemu: Could not set up host forwarding rule 'tcp:127.0.0.1:2222-:22'\n"
    assert WATCH.verdict(text, "exit status 1", 2222, 1.0) is Started.PORT_TAKEN
    fixed = BootWatch(marker="READY-1234", timeout=10, fixed_port=2222).verdict(text, "exit status 1", 2222, 1.0)
    assert isinstance(fixed, BootFailure) and "port 2222" in fixed.what


def test_early_exit_hints_at_pvh_and_timeout_names_the_marker():
    exited = WATCH.verdict("Error loading uncompressed kernel without PVH ELF Note\n", "exit status 1", 2222, 1.0)
    assert isinstance(exited, BootFailure) and "CONFIG_PVH" in exited.hint
    late = WATCH.verdict("", None, 2222, 11.0)
    assert isinstance(late, BootFailure) and "'READY-1234' within 10 s" in late.what
