"""`mmharness parse` / `python -m harness.results.parse`."""

import gzip
import io
import json
import lzma
import subprocess
import sys
from pathlib import Path

import pytest

from harness import cli
from harness.results.parse import cli as parse_cli

DATA = Path(__file__).resolve().parent.parent / "data" / "handwritten"
STACK_MODE = DATA / "page_owner-7.3-mode-stack.txt"
REPO = Path(__file__).resolve().parent.parent.parent


def run(capsys, *argv):
    code = parse_cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cull_by_comm_text(capsys):
    code, out, err = run(capsys, STACK_MODE, "--cull", "comm", "--sort", "pages")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == "# page_owner: 10 records, 525 pages (2.051 MiB)"
    assert lines[1] == "1 times, 512 pages, 2.000 MiB, task_comm_name: Web Content"
    assert "3 times, 3 pages, 0.012 MiB, task_comm_name: dd" in lines


def test_default_output_is_page_owner_sort_like(capsys):
    code, out, _ = run(capsys, STACK_MODE, "--top", "1")
    assert code == 0
    assert out.splitlines()[1:4] == [
        "2 times, 2 pages, 0.008 MiB:",
        "Page allocated via order 0, mask 0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), pid 231, tgid 231 (dd)",
        " post_alloc_hook+0x1ca/0x1f0",
    ]
    assert "Charged to memcg session-1.scope" in out


def test_filters_and_json(capsys):
    code, out, _ = run(capsys, STACK_MODE, "--comm", "dd,DD", "--cull", "stacktrace", "--format", "json")
    assert code == 0
    groups = json.loads(out)
    assert len(groups) == 1
    assert groups[0]["times"] == 4 and groups[0]["pages"] == 4 and groups[0]["comm"] == "dd"
    assert groups[0]["stacktrace"][5] == "shmem_alloc_folio+0x9a/0xb0"
    code, out, _ = run(capsys, STACK_MODE, "--pid", "1500", "--format", "json")
    (only,) = json.loads(out)
    assert (only["pid"], only["tgid"], only["comm"], only["order"]) == (1500, 1480, "Web Content", 9)
    assert only["swapped"] is False
    assert only["memcg"] == "firefox.scope" and only["migrate_reason"] == "compaction"


def test_malformed_input_warns_or_fails_in_strict_mode(capsys):
    code, out, err = run(capsys, DATA / "page_owner-malformed.txt", "--cull", "comm")
    assert code == 0
    assert "warning: page_owner-malformed.txt:6:" in err.replace(str(DATA) + "/", "")
    assert err.count("warning:") == 8
    assert "8 malformed records skipped" in out
    code, out, err = run(capsys, DATA / "page_owner-malformed.txt", "--strict")
    assert code == 1 and out == ""
    assert ":6: malformed 'Page allocated via order' line" in err


def test_handle_mode_join(capsys):
    code, out, err = run(
        capsys, DATA / "page_owner-7.3-mode-handle.txt", "--stacks-handles", DATA / "show_stacks_handles.txt",
        "--cull", "st", "--format", "json",
    )  # fmt: skip
    assert code == 0
    groups = json.loads(out)
    assert sum(g["pages"] for g in groups) == 525
    assert [g["stacktrace"] for g in groups if not isinstance(g["stacktrace"], list)] == [8912897]
    assert "1 records (1 pages) carry 1 handle(s) not in show_stacks_handles" in err


@pytest.mark.parametrize("compress, suffix", [(gzip.compress, ".gz"), (lzma.compress, ".xz"), (lambda b: b, ".txt")])
def test_compressed_files_and_stdin(capsys, monkeypatch, tmp_path, compress, suffix):
    data = compress(STACK_MODE.read_bytes())
    path = tmp_path / f"dump{suffix}"
    path.write_bytes(data)
    code, expected, _ = run(capsys, STACK_MODE, "--cull", "pid")
    code, out, _ = run(capsys, path, "--cull", "pid")
    assert code == 0 and out == expected
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(io.BytesIO(data))))
    code, out, _ = run(capsys, "-", "--cull", "pid")
    assert code == 0 and out == expected


def test_kinds_detected(capsys):
    code, out, _ = run(capsys, DATA / "swap_page_owner.txt", "--cull", "comm")
    assert out.splitlines()[:2] == ["# swap_page_owner: 4 records, 4 pages (0.016 MiB)",
                                    "2 times, 2 pages, 0.008 MiB, task_comm_name: dd"]  # fmt: skip
    code, out, _ = run(capsys, DATA / "show_stacks.txt", "--top", "1")
    assert out.splitlines()[:2] == ["# stacks: 7 records, 527 pages (2.059 MiB)", "1 times, 512 pages, 2.000 MiB:"]


def test_errors(capsys, tmp_path):
    code, _, err = run(capsys, tmp_path / "missing.txt")
    assert code == 1 and "cannot read" in err
    junk = tmp_path / "junk.txt"
    junk.write_text("hello\nworld\n")
    code, _, err = run(capsys, junk)
    assert code == 1 and "not a page_owner" in err
    code, _, err = run(capsys, STACK_MODE, "--cull", "colour")
    assert code == 1 and "unknown cull key" in err
    code, _, err = run(capsys, STACK_MODE, "--pid", "one")
    assert code == 1 and "--pid takes comma-separated numbers" in err
    corrupt = tmp_path / "dump.gz"
    corrupt.write_bytes(gzip.compress(STACK_MODE.read_bytes())[:200])
    code, _, err = run(capsys, corrupt)
    assert code == 1 and "cannot decompress" in err
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    code, _, err = run(capsys, empty)
    assert code == 1


def test_python_dash_m(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "harness.results.parse", str(STACK_MODE), "--cull", "swapped"],
        cwd=REPO, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "1 times, 1 pages, 0.004 MiB, swapped" in result.stdout


def test_wired_into_mmharness_cli(capsys):
    code = cli.main(["parse", str(STACK_MODE), "--cull", "tgid", "--sort", "pages", "--top", "1"])
    out = capsys.readouterr().out
    assert code == 0 and "TGID 1480" in out
