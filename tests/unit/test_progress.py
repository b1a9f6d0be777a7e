"""harness.progress (the status line of long phases) and harness.expected_totals (last time's totals)."""

import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import proc
from harness.build import debian_archive, kbuild, source
from harness.expected_totals import KEEP, LastTotals
from harness.progress import PLAIN_INTERVAL, TTY_INTERVAL, Progress, Unit, mebibytes, minutes
from harness.run import boot_watch


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_formats():
    assert minutes(0) == "0m00s" and minutes(65.9) == "1m05s" and minutes(3600) == "60m00s"
    assert mebibytes(3 * (1 << 20) + (1 << 19)) == "3.5"


def test_plain_lines_only_at_the_ticks_without_carriage_returns():
    clock, out = FakeClock(), io.StringIO()
    progress = Progress("building x", Unit.OBJECTS, 5000, clock=clock, stream=out)
    assert not progress.tty
    for _ in range(10):
        clock.now += 2.9
        progress.advance(100)
    assert out.getvalue() == ""  # 29 s: before the first plain tick
    clock.now += 1
    progress.advance(100)
    assert out.getvalue() == "  building x: 1100/~5000 objects, 0m30s\n"
    clock.now += PLAIN_INTERVAL - 1
    progress.advance(1)
    assert out.getvalue().count("\n") == 1
    clock.now += 1
    progress.advance(1)
    progress.finish()
    clock.now += PLAIN_INTERVAL
    progress.tick()  # finished: nothing more
    progress.finish()
    assert out.getvalue().splitlines() == ["  building x: 1100/~5000 objects, 0m30s",
                                           "  building x: 1102/~5000 objects, 1m00s",
                                           "  building x: 1102/~5000 objects, 1m00s"]
    assert "\r" not in out.getvalue()


def test_plain_final_line_has_the_elapsed_time():
    clock, out = FakeClock(), io.StringIO()
    with Progress("downloading p", Unit.BYTES, 150 << 20, estimate=False, clock=clock, stream=out) as progress:
        clock.now += PLAIN_INTERVAL
        progress.update(60 << 20)
        clock.now += 45
        progress.done = 150 << 20
    assert out.getvalue() == ("  downloading p: 60.0/150.0 MiB, 0m30s\n"
                              "  downloading p: 150.0/150.0 MiB, 1m15s\n")


def test_tty_redraws_with_carriage_returns_and_one_newline_at_the_end():
    clock, out = FakeClock(), FakeTty()
    with Progress("booting t (tcg)", Unit.SECONDS, 31, clock=clock, stream=out) as progress:
        assert progress.tty
        clock.now += TTY_INTERVAL - 0.5
        progress.tick()
        assert out.getvalue() == ""
        for _ in range(3):
            clock.now += TTY_INTERVAL
            progress.tick()
        assert "\n" not in out.getvalue()
        assert out.getvalue().count("\r") == 3
    text = out.getvalue()
    assert text.endswith("\n") and text.count("\n") == 1
    assert text.split("\r")[1] == "  booting t (tcg): 0m03s/~0m31s"
    assert text.split("\r")[-1] == "  booting t (tcg): 0m07s/~0m31s\n"


def test_tty_pads_over_a_longer_previous_line():
    clock, out = FakeClock(), FakeTty()
    progress = Progress("x", Unit.BYTES, clock=clock, stream=out)
    clock.now += TTY_INTERVAL
    progress.update(123 << 20)
    progress.done = 1 << 20
    progress.finish()
    first, second = out.getvalue().split("\r")[1:]
    assert len(second.rstrip("\n")) == len(first) and second.startswith("  x: 1.0 MiB, 0m02s ")


def test_a_short_phase_prints_nothing():
    for out in (io.StringIO(), FakeTty()):
        clock = FakeClock()
        with Progress("extracting t", Unit.BYTES, 10, estimate=False, clock=clock, stream=out) as progress:
            clock.now += TTY_INTERVAL - 0.1
            progress.advance(10)
        assert out.getvalue() == ""


def test_without_an_expected_total_only_the_count_is_shown():
    clock, out = FakeClock(), io.StringIO()
    with Progress("reading /sys/kernel/debug/page_owner", Unit.BYTES, clock=clock, stream=out) as progress:
        clock.now += PLAIN_INTERVAL
        progress.advance(5 << 20)
    assert out.getvalue().splitlines()[0] == "  reading /sys/kernel/debug/page_owner: 5.0 MiB, 0m30s"
    clock, out = FakeClock(), io.StringIO()
    with Progress("building guest g", Unit.SECONDS, None, clock=clock, stream=out) as progress:
        clock.now += PLAIN_INTERVAL
        progress.tick()
    assert out.getvalue().splitlines()[0] == "  building guest g: 0m30s"


def test_the_default_stream_is_stdout_as_it_is_now(capsys):
    progress = Progress("x", Unit.OBJECTS)
    assert progress.stream is sys.stdout and not progress.tty  # pytest's capture is not a terminal


# --- the totals of last time -------------------------------------------------

def test_last_totals_round_trip_and_bounded(tmp_path):
    totals = LastTotals(tmp_path / "expected" / "t.json")
    assert totals.get("a") is None
    totals.record("a", 12.5)
    totals.record("b", 3)
    totals.record("a", 13)
    assert totals.get("a") == 13 and totals.get("b") == 3
    assert list(json.loads(totals.path.read_text())) == ["b", "a"]  # most recent last
    for number in range(KEEP + 5):
        totals.record(f"k{number}", number)
    data = json.loads(totals.path.read_text())
    assert len(data) == KEEP and "a" not in data and data[f"k{KEEP + 4}"] == KEEP + 4


def test_last_totals_ignore_a_broken_file(tmp_path):
    path = tmp_path / "t.json"
    path.write_text("{not json")
    assert LastTotals(path).get("a") is None
    path.write_text('["a list"]')
    assert LastTotals(path).get("a") is None
    LastTotals(path).record("a", 1)
    assert LastTotals(path).get("a") == 1


def test_named_totals_live_in_the_cache(cache):
    assert LastTotals.named("boot-seconds").path == cache / "expected" / "boot-seconds.json"


def test_object_counts_are_kept_per_label_and_kind_of_build(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    request = kbuild.BuildRequest(tmp_path, "t", "page-owner[page_owner=y]", work, (), "")
    assert kbuild._count_key(request) == "page-owner[page_owner=y] fresh"
    (work / "vmlinux").touch()  # another variant built here before
    assert kbuild._count_key(request) == "page-owner[page_owner=y] incremental"
    other = kbuild.BuildRequest(tmp_path, "t", "page-owner[page_owner=n]", work, (), "")
    assert kbuild._count_key(other) == "page-owner[page_owner=n] incremental"


def _fake_tree(tmp_path: Path, objects: int) -> tuple[Path, Path]:
    tree, work = tmp_path / "tree", tmp_path / "tree" / ".mmharness-build-p"
    work.mkdir(parents=True)
    echo = "".join(f"\t@echo '  CC      o{number}.o'\n" for number in range(objects))
    (tree / "Makefile").write_text(".PHONY: vmlinux bzImage\nvmlinux:\n" + echo + "\t@touch $(O)/vmlinux\n"
                                   "bzImage: vmlinux\n\t@mkdir -p $(O)/arch/x86/boot && "
                                   "touch $(O)/arch/x86/boot/bzImage\n")
    for args in (["init", "-q"], ["add", "Makefile"],
                 ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "t"]):
        subprocess.run(["git", "-C", str(tree), *args], check=True)
    return tree, work


def test_a_build_records_its_object_count_for_its_label(tmp_path, cache):
    tree, work = _fake_tree(tmp_path, 3)
    kbuild.build(kbuild.BuildRequest(tree, "t", "label-a", work, (), "CONFIG_A=y\n"))
    counts = LastTotals.named("objects")
    assert counts.get("label-a fresh") == 3 and counts.get("label-a incremental") is None
    kbuild.build(kbuild.BuildRequest(tree, "t", "label-b", work, (), "CONFIG_B=y\n"))
    assert counts.get("label-b incremental") == 3 and counts.get("label-a fresh") == 3
    assert not (work / "mmharness-objects").exists()


def test_boot_seconds_are_kept_per_accelerator_and_kernel():
    last = boot_watch.LastBootSeconds("tcg", Path("/c/builds/k/vmlinux"))
    assert last.keys == ("tcg /c/builds/k/vmlinux", "tcg")


# --- the phases' own measures ------------------------------------------------

def test_print_uris_gives_the_file_name_and_size():
    text = ("'http://deb.debian.org/debian/pool/main/l/linux/linux-source-7.3_7.3.1-1%7ebpo13%2b1_all.deb' "
            "linux-source-7.3_7.3.1-1~bpo13+1_all.deb 157286400 SHA256:0123abcd\n")
    assert debian_archive.parse_print_uris(text) == ("linux-source-7.3_7.3.1-1~bpo13+1_all.deb", 157286400)
    assert debian_archive.parse_print_uris("") is None


def test_downloaded_bytes_follow_the_partial_file(tmp_path):
    name = "linux-source-7.3_7.3.1-1_all.deb"
    assert debian_archive.downloaded_bytes(tmp_path, "linux-source-7.3", name) == 0
    (tmp_path / "partial").mkdir()
    (tmp_path / "partial" / name).write_bytes(b"x" * 100)
    (tmp_path / "linux-source-7.3_7.2.0-1_all.deb").write_bytes(b"x" * 5000)  # an older version
    assert debian_archive.downloaded_bytes(tmp_path, "linux-source-7.3", name) == 100
    assert debian_archive.downloaded_bytes(tmp_path, "linux-source-7.3") == 100
    (tmp_path / "partial" / name).rename(tmp_path / name)
    assert debian_archive.downloaded_bytes(tmp_path, "linux-source-7.3", name) == 100


def test_compression_is_named_from_the_magic(tmp_path):
    for name, option in (("a.tar.xz", "--xz"), ("a.tar.gz", "--gzip"), ("a.tar", None)):
        archive = tmp_path / name
        subprocess.run(["tar", "-c", *([option] if option else []), "-f", str(archive), "-C", str(tmp_path),
                        "--files-from=/dev/null"], check=True)
        assert source.compression_option(archive) == ([option] if option else [])


def test_extraction_feeds_tar_and_shows_the_compressed_bytes(tmp_path, monkeypatch):
    content = tmp_path / "linux-9.9"
    content.mkdir()
    (content / "Makefile").write_text("all:\n")
    archive = tmp_path / "linux.tar.xz"
    subprocess.run(["tar", "-cJf", str(archive), "-C", str(tmp_path), "linux-9.9"], check=True)
    shown: list[Progress] = []
    real = source.Progress
    monkeypatch.setattr(source, "Progress", lambda *a, **k: shown.append(real(*a, **k)) or shown[-1])
    into = tmp_path / "into"
    into.mkdir()
    source.extract_tarball(archive, into, "extracting linux.tar.xz")
    assert (into / "Makefile").read_text() == "all:\n"
    assert shown[0].done == shown[0].expected == archive.stat().st_size and not shown[0].estimate


def test_a_failing_fed_command_raises_with_its_output(tmp_path):
    with pytest.raises(proc.HarnessError, match="unpacking failed"):
        proc.run_fed(["sh", "-c", "echo broken >&2; exit 3"], io.BytesIO(b"x" * (4 << 20)), what="unpacking")


def test_run_calls_while_running_until_the_command_exits():
    calls = []
    started = time.monotonic()
    result = proc.run(["sh", "-c", "sleep 1.2; echo out; echo err >&2"], what="sleep",
                      while_running=lambda: calls.append(time.monotonic() - started))
    assert result.stdout == "out\n" and result.stderr == "err\n" and result.returncode == 0
    assert 1 <= len(calls) <= 3
    with pytest.raises(proc.HarnessError, match="failed .exit 4."):
        proc.run(["sh", "-c", "exit 4"], what="failing", while_running=lambda: None)
