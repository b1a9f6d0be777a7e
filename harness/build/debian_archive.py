"""Debian's archive as a source of kernel trees: the machine's own mirror, apt-get
against one suite (its own lists, the system keyring), and the cache of .deb files."""

import re
from pathlib import Path

from harness import paths
from harness.errors import HarnessError
from harness.proc import run
from harness.progress import Progress, Unit

DEBIAN_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


def system_debian_mirror(sources_dir: Path = Path("/etc/apt"), suite: str = "") -> str:
    """The Debian archive URI already configured for apt on this machine.

    A `*-security` suite lives in the security archive (…/debian-security),
    which a machine configures as a URI of its own."""
    uris: list[str] = []
    candidates = [sources_dir / "sources.list"]
    candidates += sorted((sources_dir / "sources.list.d").glob("*.list"))
    candidates += sorted((sources_dir / "sources.list.d").glob("*.sources"))
    for file in candidates:
        if not file.is_file():
            continue
        for line in file.read_text(errors="replace").splitlines():
            line = line.strip()
            if line.startswith("deb "):
                words = [w for w in line.split() if not w.startswith("[") and not w.endswith("]")]
                if len(words) >= 2:
                    uris.append(words[1])
            elif line.startswith("URIs:"):
                uris.extend(line.split()[1:])
    archive = "debian-security" if suite.endswith("-security") else "debian"
    for uri in uris:
        if re.search(rf"/{archive}/?$", uri):
            return uri.rstrip("/")
    raise HarnessError(
        f"no {'Debian security archive' if archive != 'debian' else 'Debian archive'} found in "
        f"the apt sources of this machine ({sources_dir})",
        hint=f"configure a {archive} mirror for apt (for suite {suite or 'the guest'}), "
             "or use a git/tarball/path source",
    )


class DebianArchive:
    """apt with its own sources, lists and cache under the harness cache."""

    def __init__(self, suite: str):
        self.suite = suite
        self.root = paths.cache_dir("apt", suite)
        for sub in ("lists/partial", "cache/archives/partial", "parts"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.sources = self.root / "sources.list"
        self.sources.write_text(
            f"deb [signed-by={DEBIAN_KEYRING}] {system_debian_mirror(suite=suite)} {suite} main\n")

    def _options(self) -> list[str]:
        return [
            "-o", f"Dir::Etc::SourceList={self.sources}",
            "-o", f"Dir::Etc::SourceParts={self.root / 'parts'}",
            "-o", f"Dir::State::Lists={self.root / 'lists'}",
            "-o", f"Dir::Cache={self.root / 'cache'}",
            "-o", "Debug::NoLocking=1",
        ]

    def update(self) -> None:
        run(["apt-get", *self._options(), "update"], what=f"apt-get update for {self.suite}")

    def candidate_version(self, package: str) -> str:
        out = run(["apt-cache", *self._options(), "policy", package],
                  what=f"apt-cache policy {package}").stdout
        match = re.search(r"Candidate:\s*(\S+)", out)
        if not match or match.group(1) == "(none)":
            raise HarnessError(f"Debian package {package} is not in {self.suite}",
                               hint="check the package name and the manifest's `suite`")
        return match.group(1)

    def download_size(self, package: str, version: str) -> tuple[str, int] | None:
        """The .deb's file name and size, as apt-get would download it (it downloads nothing)."""
        listed = run(["apt-get", *self._options(), "--print-uris", "download", f"{package}={version}"],
                     what=f"apt-get --print-uris download {package}", check=False)
        return parse_print_uris(listed.stdout) if listed.returncode == 0 else None

    def download(self, package: str, version: str) -> Path:
        debs = paths.cache_dir("debs")
        found = sorted(debs.glob(f"{package}_{version.replace(':', '%3a')}_*.deb"))
        if found:
            return found[0]
        listed = self.download_size(package, version)
        name, size = listed if listed else ("", None)
        with Progress(f"downloading {package}", Unit.BYTES, size, estimate=False) as progress:
            run(["apt-get", *self._options(), "download", f"{package}={version}"],
                cwd=debs, what=f"apt-get download {package}",
                while_running=lambda: progress.update(downloaded_bytes(debs, package, name)))
        found = sorted(debs.glob(f"{package}_*.deb"))
        if not found:
            raise HarnessError(f"apt-get download {package} left no .deb in {debs}")
        return found[-1]


def parse_print_uris(text: str) -> tuple[str, int] | None:
    """File name and size from `apt-get --print-uris download`: 'URI' NAME SIZE HASH."""
    match = re.search(r"^'[^']+' (\S+) (\d+)\b", text, re.MULTILINE)
    return (match.group(1), int(match.group(2))) if match else None


def downloaded_bytes(debs: Path, package: str, name: str = "") -> int:
    """How much of the .deb apt-get has written so far: apt downloads into partial/ under the
    directory it was run in and renames the file when it is complete."""
    if name:
        candidates = [debs / "partial" / name, debs / name]
    else:
        candidates = list((debs / "partial").glob(f"{package}_*"))
    return max(map(file_size, candidates), default=0)


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:  # not there (yet, or any more)
        return 0


def newest_cached_deb(package: str) -> tuple[Path, str] | None:
    debs = sorted(paths.cache_dir("debs").glob(f"{package}_*.deb"))
    if not debs:
        return None
    return debs[-1], debs[-1].name.split("_")[1].replace("%3a", ":")
