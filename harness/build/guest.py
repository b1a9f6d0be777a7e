"""Guest root file systems: a Debian minbase made by mmdebstrap, as an ext4 image.

A guest is defined by guests/<name>.yaml. The image, its SSH keys and the
mmdebstrap log live in cache_dir("guests", <key>), where the key hashes the
definition and everything the harness puts into the rootfs (PID 1, sshd
config, the customize hook), so editing any of them rebuilds the guest.
"""

import hashlib
import json
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from harness import locks, paths
from harness.build.debian_archive import system_debian_mirror
from harness.errors import HarnessError
from harness.expected_totals import LastTotals
from harness.proc import require_tools, run
from harness.progress import Progress, Unit

GUESTS_DIR = paths.REPO_ROOT / "guests"
INIT_SCRIPT = Path(__file__).resolve().parent / "guest_init" / "init"
READY_MARKER = "MMHARNESS-READY"
# Printed by our PID 1 when it cannot reach the ready marker (see guest_init/init).
INIT_FATAL = "mmharness-init: FATAL:"
# Bump when build_guest changes what ends up in the image.
RECIPE_VERSION = 1

SSHD_CONFIG = """\
# Written by mmharness. Key-only root login; no PAM (it slows every connection).
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
PrintMotd no
PrintLastLog no
PidFile /run/sshd.pid
Subsystem sftp /usr/lib/openssh/sftp-server
"""

# Runs inside mmdebstrap as `--customize-hook`, with the rootfs as $1 and the
# staging directory (keys, init, sshd_config) as $2.
CUSTOMIZE_HOOK = """\
#!/bin/sh
set -e
root="$1"; files="$2"
rm -f "$root"/etc/ssh/ssh_host_*
install -m 0600 "$files/ssh_host_ed25519_key" "$root/etc/ssh/ssh_host_ed25519_key"
install -m 0644 "$files/ssh_host_ed25519_key.pub" "$root/etc/ssh/ssh_host_ed25519_key.pub"
install -m 0644 "$files/sshd_config" "$root/etc/ssh/sshd_config"
install -d -m 0700 "$root/root/.ssh"
install -m 0600 "$files/id_ed25519.pub" "$root/root/.ssh/authorized_keys"
install -m 0755 "$files/init" "$root/sbin/mmharness-init"
for name in reboot poweroff halt; do
    [ -e "$root/sbin/$name" ] || ln -s mmharness-init "$root/sbin/$name"
done
install -m 0644 "$files/hostname" "$root/etc/hostname"
# The harness reads page_owner with dd under a name of its own: the reader's
# pages must not count as the workload's dd (a task's comm is the name exec'd).
ln -sf /usr/bin/dd "$root/usr/local/bin/mmharness-read"
# sshd refuses key logins to a locked ("!") account when PAM is off.
sed -i 's/^root:[^:]*:/root:*:/' "$root/etc/shadow"
"""

# Documentation, man pages and translations are a third of a minbase rootfs.
DPKG_EXCLUDES = [
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/locale/*",
    "path-exclude=/usr/share/info/*",
]


@dataclass(frozen=True)
class GuestSpec:
    name: str
    source: Path  # the YAML file, for error messages
    suite: str = "bookworm"
    mirror: str = ""  # empty: the Debian mirror configured for apt on this machine
    packages: tuple[str, ...] = ()
    hostname: str = "mmharness"
    image_size_mb: int = 2048

    @classmethod
    def from_dict(cls, data: dict, name: str, source: Path) -> "GuestSpec":
        keys = set(cls.__dataclass_fields__) - {"name", "source"}
        unknown = set(data) - keys
        if unknown:
            raise HarnessError(f"{source}: unknown guest key(s) {sorted(unknown)}",
                               hint=f"known keys: {sorted(keys)}")
        values = dict(data)
        packages = values.get("packages", [])
        if not isinstance(packages, list) or not all(isinstance(p, str) for p in packages):
            raise HarnessError(f"{source}: `packages` must be a list of package names")
        for package in packages:
            if not re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", package):
                raise HarnessError(f"{source}: {package!r} is not a Debian package name")
        values["packages"] = tuple(packages)
        for key in ("suite", "mirror", "hostname"):
            if key in values:
                values[key] = "" if values[key] is None else str(values[key])
        if "image_size_mb" in values:
            size = values["image_size_mb"]
            if not isinstance(size, int) or size < 256:
                raise HarnessError(f"{source}: image_size_mb must be an integer >= 256")
        return cls(name=name, source=source, **values)

    def definition(self) -> dict:
        """What the image depends on (not where the YAML file happens to be)."""
        data = asdict(self)
        del data["name"], data["source"]
        data["packages"] = list(self.packages)
        return data


@dataclass(frozen=True)
class GuestImage:
    rootfs: Path  # ext4 image; boot it with snapshot=on, it is shared and never modified
    client_key: Path  # private key whose public half is root's authorized_keys
    host_key: str  # the guest sshd's public key line ("ssh-ed25519 AAAA..."), to pin
    ready_marker: str  # printed on the console once sshd listens
    key: str = ""  # cache key
    meta: dict = field(default_factory=dict, compare=False)


def load_guest(name: str = "default", guests_dir: Path = GUESTS_DIR) -> GuestSpec:
    """A guest by name (guests/<name>.yaml) or by path to a YAML file."""
    path = Path(name)
    if path.suffix not in (".yaml", ".yml"):
        path = guests_dir / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in guests_dir.glob("*.yaml"))
        raise HarnessError(f"guest definition {path} not found",
                           hint=f"known guests: {', '.join(known) or 'none'}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise HarnessError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise HarnessError(f"{path}: expected a mapping of guest keys")
    return GuestSpec.from_dict(data, name=path.stem, source=path)


def cache_key(spec: GuestSpec, init_script: Path = INIT_SCRIPT) -> str:
    blob = json.dumps({
        "recipe": RECIPE_VERSION,
        "definition": spec.definition(),
        "init": init_script.read_text(),
        "sshd_config": SSHD_CONFIG,
        "hook": CUSTOMIZE_HOOK,
        "dpkg": DPKG_EXCLUDES,
    }, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def mmdebstrap_command(spec: GuestSpec, rootdir: Path, files: Path, mirror: str) -> list[str]:
    return [
        "mmdebstrap", "--variant=minbase", "--mode=root",
        f"--include={','.join(spec.packages)}",
        *(f"--dpkgopt={opt}" for opt in DPKG_EXCLUDES),
        f'--customize-hook=sh "{files}/customize.sh" "$1" "{files}"',
        spec.suite, str(rootdir), mirror,
    ]


def unknown_packages(log_text: str) -> list[str]:
    """Packages apt could not find, from an mmdebstrap log."""
    found = re.findall(r"Unable to locate package (\S+)", log_text)
    found += re.findall(r"Package '?([^ ']+)'? has no installation candidate", log_text)
    return sorted(set(found))


def _loaded(final: Path) -> GuestImage | None:
    meta_file = final / "guest.json"
    if not meta_file.is_file():
        return None
    meta = json.loads(meta_file.read_text())
    return GuestImage(rootfs=final / "rootfs.ext4", client_key=final / "id_ed25519",
                      host_key=meta["host_key"], ready_marker=meta["ready_marker"],
                      key=meta["key"], meta=meta)


def build_guest(spec: GuestSpec, say: Callable[[str], None] = locks.print_now) -> GuestImage:
    """The guest image for `spec`, from the cache or built now (~1-2 min); `say` tells the
    user whom a run waits for."""
    key = cache_key(spec)
    guests = paths.cache_dir("guests")
    final = guests / key
    cached = _loaded(final)
    if cached:
        return cached
    require_tools("mmdebstrap", "mke2fs", "ssh-keygen", purpose=f"building guest {spec.name}")
    with locks.exclusive(guests / f"{key}.lock", f"guest {spec.name} ({key})", say):  # another run may be building it
        cached = _loaded(final)
        if cached:
            return cached
        staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=guests))
        staging.chmod(0o755)  # apt inside mmdebstrap downloads as the _apt user
        try:
            seconds = LastTotals.named("guest-seconds")
            with Progress(f"building guest {spec.name}", Unit.SECONDS, seconds.get(spec.name)) as progress:
                _build_into(spec, key, staging, progress.tick)
            seconds.record(spec.name, round(progress.elapsed, 1))
            if final.exists():  # an interrupted build without guest.json
                shutil.rmtree(final)
            staging.rename(final)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    image = _loaded(final)
    assert image is not None
    return image


def _build_into(spec: GuestSpec, key: str, staging: Path, tick: Callable[[], None]) -> None:
    started = time.monotonic()
    files = staging / "files"
    files.mkdir()
    for name, comment in (("ssh_host_ed25519_key", "mmharness-guest"),
                          ("id_ed25519", "mmharness-client")):
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment,
             "-f", str(files / name)], what="ssh-keygen")
    shutil.copy(INIT_SCRIPT, files / "init")
    (files / "sshd_config").write_text(SSHD_CONFIG)
    (files / "customize.sh").write_text(CUSTOMIZE_HOOK)
    (files / "hostname").write_text(spec.hostname + "\n")

    mirror = spec.mirror or system_debian_mirror()
    rootdir = staging / "rootfs"
    log = staging / "mmdebstrap.log"
    result = run(mmdebstrap_command(spec, rootdir, files, mirror),
                 what=f"mmdebstrap for guest {spec.name}", log=log, check=False, while_running=tick)
    if result.returncode != 0:
        kept = paths.cache_dir("guests", "logs") / f"{key}-mmdebstrap.log"
        shutil.copy(log, kept)
        missing = unknown_packages(log.read_text(errors="replace"))
        if missing:
            raise HarnessError(
                f"guest {spec.name}: package(s) {', '.join(missing)} not found in "
                f"Debian {spec.suite} ({mirror})",
                hint=f"fix `packages` in {spec.source}", artifacts=[str(kept)])
        tail = (result.stderr or result.stdout).strip().splitlines()[-15:]
        raise HarnessError(
            f"mmdebstrap failed for guest {spec.name} (exit {result.returncode}):\n    "
            + "\n    ".join(tail),
            hint=f"check the network and the mirror {mirror}; guest file {spec.source}",
            artifacts=[str(kept)])

    image = staging / "rootfs.ext4"
    run(["mke2fs", "-q", "-F", "-t", "ext4", "-L", "mmharness-root", "-d", str(rootdir),
         str(image), f"{spec.image_size_mb}M"],
        what=f"mke2fs for guest {spec.name}", log=log, while_running=tick)
    shutil.rmtree(rootdir)
    for name in ("id_ed25519", "id_ed25519.pub", "ssh_host_ed25519_key.pub"):
        shutil.copy(files / name, staging / name)
    (staging / "id_ed25519").chmod(0o600)
    shutil.rmtree(files)  # the host private key only needs to be inside the image
    host_key = " ".join((staging / "ssh_host_ed25519_key.pub").read_text().split()[:2])
    meta = {
        "key": key,
        "guest": spec.name,
        "definition": spec.definition(),
        "mirror": mirror,
        "host_key": host_key,
        "ready_marker": READY_MARKER,
        "build_seconds": round(time.monotonic() - started, 1),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    # Written last: its presence is what makes the directory a finished guest.
    (staging / "guest.json").write_text(json.dumps(meta, indent=2) + "\n")
