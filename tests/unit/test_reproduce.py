"""reproduce.sh says `mmharness boot` with what the test booted, and the CLI reads it back the same."""

import shlex
import subprocess

from harness import cli
from harness.build import manifest as manifests
from harness.run import reproduce
from harness.run.machine_spec import Disk, MachineSpec


def spec(**changes) -> MachineSpec:
    values = dict(kernel="/k/vmlinux", cmdline="page_owner=on,swap brd.rd_size=1 'x'", memory_mb=768, cpus=2,
                  disks=(Disk(1024, swap=True), Disk(64)))
    values.update(changes)
    return MachineSpec(**values)


def read_back(path) -> list[str]:
    line = path.read_text().splitlines()[-1]
    words = shlex.split(line)
    assert words[0] == "exec" and words[-1] == "$@"
    return words[2:-1]


def test_the_script_boots_what_the_test_booted(tmp_path):
    path = reproduce.write(tmp_path, "swap-table-ab@v7.3", "swap-table", spec())
    assert path.stat().st_mode & 0o111, "executable"
    subprocess.run(["sh", "-n", str(path)], check=True)  # valid shell
    args = cli.make_parser().parse_args(read_back(path))
    assert (args.manifest, args.label, args.memory, args.cpus) == ("swap-table-ab@v7.3", "swap-table", 768, 2)
    overrides = cli.boot_overrides(args)
    assert overrides.cmdline == spec().cmdline, "the command line survives quoting"
    assert overrides.disks == (Disk(1024, swap=True), Disk(64))


def test_a_machine_without_disks_says_so(tmp_path):
    args = cli.make_parser().parse_args(read_back(reproduce.write(tmp_path, "ghost-swap-7.3", "g", spec(disks=()))))
    assert cli.boot_overrides(args).disks == ()


def test_a_bad_disk_is_an_error(capsys):
    assert cli.main(["boot", "--disk", "big", "--", "true"]) == 1
    assert "expected SIZE_MB or SIZE_MB,swap" in capsys.readouterr().err


def test_every_manifest_is_named_so_that_boot_loads_it_again():
    # default.yaml's manifest is called page-owner-swap-7.3: reproduce.sh must say `-m default`.
    for path in sorted(manifests.MANIFESTS.glob("*.yaml")):
        for manifest in manifests.load_all(path.stem):
            again = manifests.load(manifest.reference)
            assert (again.name, again.path) == (manifest.name, manifest.path), manifest.reference
    assert manifests.load("default").reference == "default"


def test_a_manifest_outside_the_harness_is_named_by_its_path(tmp_path):
    copy = tmp_path / "mine.yaml"
    copy.write_text((manifests.MANIFESTS / "default.yaml").read_text())
    manifest = manifests.load(str(copy))
    assert manifest.reference == str(copy) and manifests.load(manifest.reference).path == copy
