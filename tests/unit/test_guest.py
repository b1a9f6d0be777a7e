import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from harness.build import guest
from harness.build.guest import GuestSpec, build_guest, cache_key, load_guest, mmdebstrap_command
from harness.errors import HarnessError

MMDEBSTRAP_UNKNOWN = """\
I: running apt-get update...
I: downloading packages with apt...
E: Unable to locate package no-such-package-mmh
E: setup failed: E: apt-get --yes install openssh-server no-such-package-mmh coreutils failed
E: mmdebstrap failed to run
"""


pytestmark = pytest.mark.usefixtures("cache")  # conftest: an empty cache under tmp_path


def write_guest(directory: Path, text: str, name: str = "g") -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(text)
    return path


def test_default_guest():
    spec = load_guest("default")
    assert spec.name == "default" and spec.suite == "bookworm"
    for package in ("openssh-server", "coreutils", "procps", "gawk", "util-linux", "iproute2"):
        assert package in spec.packages
    assert spec.mirror == ""  # the machine's own apt mirror, never a host name in the repo


def test_unknown_key_and_bad_values_name_the_file(tmp_path):
    path = write_guest(tmp_path, "suite: bookworm\npackges: [gawk]\n")
    with pytest.raises(HarnessError, match=f"{path}: unknown guest key.*packges"):
        load_guest(str(path))
    path = write_guest(tmp_path, "packages: gawk\n")
    with pytest.raises(HarnessError, match="must be a list"):
        load_guest(str(path))
    path = write_guest(tmp_path, "packages: ['Not A Package']\n")
    with pytest.raises(HarnessError, match="not a Debian package name"):
        load_guest(str(path))
    path = write_guest(tmp_path, "image_size_mb: 10\n")
    with pytest.raises(HarnessError, match="image_size_mb"):
        load_guest(str(path))


def test_unknown_guest_lists_known_ones(tmp_path):
    write_guest(tmp_path, "suite: bookworm\n", name="small")
    with pytest.raises(HarnessError) as err:
        load_guest("nope", guests_dir=tmp_path)
    assert "nope.yaml not found" in str(err.value) and "small" in err.value.hint


def test_cache_key(tmp_path):
    base = load_guest(str(write_guest(tmp_path, "packages: [gawk, procps]\n")))
    same_elsewhere = load_guest(str(write_guest(tmp_path, "packages: [gawk, procps]\n", "other")))
    more = load_guest(str(write_guest(tmp_path, "packages: [gawk, procps, bc]\n", "more")))
    assert cache_key(base) == cache_key(base) == cache_key(same_elsewhere)
    assert cache_key(more) != cache_key(base)
    init = tmp_path / "init"
    shutil.copy(guest.INIT_SCRIPT, init)
    assert cache_key(base, init) == cache_key(base)
    init.write_text(init.read_text() + "\n# changed\n")
    assert cache_key(base, init) != cache_key(base)


def test_mmdebstrap_command(tmp_path):
    spec = GuestSpec(name="g", source=tmp_path / "g.yaml", packages=("gawk", "openssh-server"))
    argv = mmdebstrap_command(spec, tmp_path / "root", tmp_path / "files", "http://mirror/debian")
    assert argv[0] == "mmdebstrap" and "--variant=minbase" in argv
    assert "--include=gawk,openssh-server" in argv
    assert any(a.startswith("--customize-hook=") and "customize.sh" in a for a in argv)
    assert argv[-3:] == ["bookworm", str(tmp_path / "root"), "http://mirror/debian"]


def test_unknown_packages_from_log():
    assert guest.unknown_packages(MMDEBSTRAP_UNKNOWN) == ["no-such-package-mmh"]
    assert guest.unknown_packages("E: Package 'exim' has no installation candidate") == ["exim"]
    assert guest.unknown_packages("I: success in 62.9 seconds") == []


def test_init_script_matches_the_harness():
    text = guest.INIT_SCRIPT.read_text()
    assert text.startswith("#!/bin/sh\n")
    assert f"READY_MARKER={guest.READY_MARKER}\n" in text
    prefix, _, word = guest.INIT_FATAL.partition(" ")
    assert f'echo "{prefix} $*"' in text and f'say "{word} $*"' in text
    # syntax only: never run it on the host (it can call reboot(2))
    assert subprocess.run(["sh", "-n", str(guest.INIT_SCRIPT)]).returncode == 0
    assert subprocess.run(["sh", "-n", "-c", guest.CUSTOMIZE_HOOK]).returncode == 0


def test_sshd_config():
    lines = set(guest.SSHD_CONFIG.splitlines())
    assert {"UsePAM no", "PermitRootLogin prohibit-password",
            "PasswordAuthentication no"} <= lines


# --- build_guest with fake host tools -----------------------------------------

class FakeTools:
    """Stands in for ssh-keygen, mmdebstrap and mke2fs."""

    def __init__(self, mmdebstrap_log: str = "I: success\n", returncode: int = 0):
        self.mmdebstrap_log = mmdebstrap_log
        self.returncode = returncode
        self.calls: list[str] = []

    def __call__(self, cmd, *, what, log=None, check=True, **kw):
        tool = cmd[0]
        self.calls.append(tool)
        if tool == "ssh-keygen":
            key = Path(cmd[cmd.index("-f") + 1])
            key.write_text("PRIVATE\n")
            comment = cmd[cmd.index("-C") + 1]
            key.with_suffix(".pub").write_text(f"ssh-ed25519 AAAAfake{key.name} {comment}\n")
        elif tool == "mmdebstrap":
            Path(cmd[-2]).mkdir()
            log.write_text(self.mmdebstrap_log)
            return subprocess.CompletedProcess(cmd, self.returncode, self.mmdebstrap_log, "")
        elif tool == "mke2fs":
            Path(cmd[-2]).write_text("ext4")
        return subprocess.CompletedProcess(cmd, 0, "", "")


@pytest.fixture
def tools(monkeypatch):
    monkeypatch.setattr(guest, "require_tools", lambda *a, **k: None)
    monkeypatch.setattr(guest, "system_debian_mirror", lambda: "http://mirror.invalid/debian")

    def install(fake: FakeTools) -> FakeTools:
        monkeypatch.setattr(guest, "run", fake)
        return fake
    return install


def test_build_then_cached(tmp_path, tools):
    fake = tools(FakeTools())
    spec = load_guest(str(write_guest(tmp_path, "packages: [gawk]\n")))
    image = build_guest(spec)
    assert fake.calls == ["ssh-keygen", "ssh-keygen", "mmdebstrap", "mke2fs"]
    assert image.rootfs.read_text() == "ext4"
    assert image.client_key.is_file() and image.ready_marker == guest.READY_MARKER
    assert image.host_key == "ssh-ed25519 AAAAfakessh_host_ed25519_key"
    assert not (image.rootfs.parent / "ssh_host_ed25519_key").exists()  # only inside the image
    assert json.loads((image.rootfs.parent / "guest.json").read_text())["key"] == cache_key(spec)
    assert [p.name for p in image.rootfs.parent.parent.iterdir() if p.name.startswith(".")] == []

    again = tools(FakeTools())
    assert build_guest(spec) == image and again.calls == []


class GatedTools(FakeTools):
    """FakeTools whose mmdebstrap blocks until the test sets `release`."""

    def __init__(self):
        super().__init__()
        self.started, self.release = threading.Event(), threading.Event()

    def __call__(self, cmd, **kw):
        if cmd[0] == "mmdebstrap":
            self.started.set()
            assert self.release.wait(30)
        return super().__call__(cmd, **kw)


def test_second_build_of_one_guest_waits_through_say_and_reuses_it(tmp_path, tools):
    fake = tools(GatedTools())
    spec = load_guest(str(write_guest(tmp_path, "packages: [gawk]\n")))
    images, said = {}, []
    first = threading.Thread(target=lambda: images.update(first=build_guest(spec, say=said.append)))
    first.start()
    assert fake.started.wait(30)  # the first run holds the guest's lock, inside mmdebstrap
    # flock conflicts between two open files, also in one process: the second thread waits.
    second = threading.Thread(target=lambda: images.update(second=build_guest(spec, say=said.append)))
    second.start()
    deadline = time.monotonic() + 10
    while not said:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    fake.release.set()
    first.join(30)
    second.join(30)
    assert said == [f"waiting for guest g ({cache_key(spec)}) held by pid {os.getpid()}"]
    assert fake.calls.count("mmdebstrap") == 1  # the waiter reused the first run's image
    assert images["first"] == images["second"]


def test_half_built_guest_is_not_taken_as_cached(tmp_path, tools):
    spec = load_guest(str(write_guest(tmp_path, "packages: [gawk]\n")))
    final = tmp_path / "cache" / "guests" / cache_key(spec)
    final.mkdir(parents=True)
    (final / "rootfs.ext4").write_text("truncated")  # no guest.json: an interrupted build
    fake = tools(FakeTools())
    image = build_guest(spec)
    assert "mmdebstrap" in fake.calls and image.rootfs.read_text() == "ext4"


def test_unknown_package_names_package_and_guest_file(tmp_path, tools):
    tools(FakeTools(MMDEBSTRAP_UNKNOWN, returncode=1))
    path = write_guest(tmp_path, "packages: [openssh-server, no-such-package-mmh]\n")
    with pytest.raises(HarnessError) as err:
        build_guest(load_guest(str(path)))
    assert "no-such-package-mmh" in str(err.value) and str(path) in err.value.hint
    (log,) = err.value.artifacts
    assert "Unable to locate package" in Path(log).read_text()
    guests = tmp_path / "cache" / "guests"
    assert not (guests / cache_key(load_guest(str(path)))).exists()
    assert [p.name for p in guests.iterdir() if p.name.startswith(".")] == []


def test_other_mmdebstrap_failure_keeps_log(tmp_path, tools):
    tools(FakeTools("E: cannot reach mirror\n", returncode=1))
    path = write_guest(tmp_path, "packages: [gawk]\n")
    with pytest.raises(HarnessError, match="mmdebstrap failed") as err:
        build_guest(load_guest(str(path)))
    assert Path(err.value.artifacts[0]).is_file()
