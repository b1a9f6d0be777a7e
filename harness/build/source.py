"""Kernel source trees: a Debian source package, git, a tarball or a path.

Every tree the harness prepares itself is a git work tree whose first commit
is tagged `harness-base`, so series can be applied, detected and reset.
"""

import hashlib
import json
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from harness import paths
from harness.build.debian_archive import DebianArchive, file_size, newest_cached_deb
from harness.errors import HarnessError
from harness.proc import require_tools, run, run_fed
from harness.progress import Progress, Unit

BASE_TAG = "harness-base"
KINDS = ("debian", "git", "tarball", "path")
# tar cannot tell the compression of an archive on its stdin: name it from the magic.
COMPRESSIONS = ((b"\xfd7zXZ\x00", "--xz"), (b"\x1f\x8b", "--gzip"), (b"BZh", "--bzip2"),
                (b"\x28\xb5\x2f\xfd", "--zstd"))


@dataclass(frozen=True)
class SourceSpec:
    kind: str = "debian"
    package: str = "linux-source-7.3"
    suite: str = "trixie-backports"
    url: str = ""
    ref: str = ""
    path: str = ""
    sha256: str = ""

    @classmethod
    def from_dict(cls, data: dict, where: str) -> "SourceSpec":
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise HarnessError(f"{where}: unknown source key(s) {sorted(unknown)}",
                               hint=f"known keys: {sorted(known)}")
        spec = cls(**{k: str(v) for k, v in data.items()})
        if spec.kind not in KINDS:
            raise HarnessError(f"{where}: unknown source kind {spec.kind!r}",
                               hint=f"use one of {', '.join(KINDS)}")
        needed = {"git": ("url", "ref"), "tarball": ("url", "sha256"), "path": ("path",)}
        for key in needed.get(spec.kind, ()):
            if not getattr(spec, key):
                raise HarnessError(f"{where}: source kind {spec.kind} needs `{key}`")
        return spec


@dataclass(frozen=True)
class Tree:
    path: Path
    identity: str
    provenance: dict = field(default_factory=dict, compare=False)
    managed: bool = True  # False for `path` trees used in place: never reset them


def _git(tree: Path, *args: str, what: str) -> str:
    return run(["git", "-C", str(tree), *args], what=what).stdout.strip()


def _commit_as_base(tree: Path, message: str) -> None:
    run(["git", "-C", str(tree), "init", "-q"], what="git init")
    # -f: Debian's tarball ships a .gitignore that ignores its whole top level
    _git(tree, "add", "-A", "-f", what="git add")
    _git(tree, "-c", "user.name=mmharness", "-c", "user.email=mmharness@localhost",
         "commit", "-q", "--no-verify", "-m", message, what="git commit")
    _git(tree, "tag", "-f", BASE_TAG, what="git tag")


def _finish_tree(staging: Path, final: Path, provenance: dict) -> Tree:
    (staging / ".git" / "mmharness-provenance.json").write_text(json.dumps(provenance, indent=2))
    staging.rename(final)
    return Tree(final, provenance["identity"], provenance)


def _cached_tree(final: Path) -> Tree | None:
    meta = final / ".git" / "mmharness-provenance.json"
    if meta.is_file():
        provenance = json.loads(meta.read_text())
        return Tree(final, provenance["identity"], provenance)
    return None


def compression_option(archive: Path) -> list[str]:
    with archive.open("rb") as data:
        head = data.read(8)
    return [option for magic, option in COMPRESSIONS if head.startswith(magic)][:1]


def extract_tarball(archive: Path, into: Path, what: str) -> None:
    """`tar -x --strip-components=1`, fed from here so the compressed bytes read can be shown."""
    command = ["tar", "-x", *compression_option(archive), "-f", "-", "-C", str(into), "--strip-components=1"]
    with archive.open("rb") as data, \
            Progress(what, Unit.BYTES, archive.stat().st_size, estimate=False) as progress:
        run_fed(command, data, what=what, on_chunk=progress.advance)


def fetch_debian(spec: SourceSpec) -> Tree:
    require_tools("apt-get", "dpkg-deb", "tar", "xz", "git", purpose="fetching a Debian kernel source")
    archive = DebianArchive(spec.suite)
    try:
        archive.update()
        version = archive.candidate_version(spec.package)
        deb = archive.download(spec.package, version)
    except HarnessError as error:
        cached = newest_cached_deb(spec.package)
        if cached is None:
            raise
        deb, version = cached
        print(f"warning: {error.message.splitlines()[0]}; using cached {deb.name}")
    identity = f"debian-{spec.package}-{version}".replace("~", "_").replace(":", "_")
    final = paths.cache_dir("trees") / identity
    cached_tree = _cached_tree(final)
    if cached_tree:
        return cached_tree
    if final.exists():
        shutil.rmtree(final)
    with tempfile.TemporaryDirectory(dir=paths.cache_dir("tmp")) as tmp:
        # The .deb is almost all the source tarball: its growth against the .deb's size.
        with Progress(f"unpacking {deb.name}", Unit.BYTES, deb.stat().st_size) as progress:
            run(["dpkg-deb", "-x", str(deb), tmp], what=f"unpacking {deb.name}",
                while_running=lambda: progress.update(
                    sum(map(file_size, Path(tmp).glob("usr/src/linux-source-*.tar.*")))))
        tarballs = sorted(Path(tmp).glob("usr/src/linux-source-*.tar.*"))
        if not tarballs:
            raise HarnessError(f"{deb.name} holds no usr/src/linux-source-*.tar.*")
        staging = Path(tmp) / "tree"
        staging.mkdir()
        extract_tarball(tarballs[0], staging, f"extracting {tarballs[0].name}")
        _commit_as_base(staging, f"{spec.package} {version}")
        provenance = {"identity": identity, "kind": "debian", "package": spec.package,
                      "version": version, "suite": spec.suite, "deb": deb.name,
                      "commit": _git(staging, "rev-parse", "HEAD", what="git rev-parse")}
        return _finish_tree(staging, final, provenance)


def fetch_git(spec: SourceSpec) -> Tree:
    require_tools("git", purpose="fetching a git kernel source")
    url = str(Path(spec.url).resolve()) if Path(spec.url).exists() else spec.url
    key = hashlib.sha256(f"{url}@{spec.ref}".encode()).hexdigest()[:16]
    final = paths.cache_dir("trees") / f"git-{key}"
    cached_tree = _cached_tree(final)
    if cached_tree:
        return cached_tree
    with tempfile.TemporaryDirectory(dir=paths.cache_dir("tmp")) as tmp:
        staging = Path(tmp) / "tree"
        shallow = run(["git", "clone", "-q", "--depth", "1", "--branch", spec.ref, url, str(staging)],
                      what=f"git clone {url}", check=False)
        if shallow.returncode != 0:  # a commit sha cannot be cloned shallowly by name
            run(["git", "clone", "-q", url, str(staging)], what=f"git clone {url}")
            _git(staging, "checkout", "-q", spec.ref, what=f"git checkout {spec.ref}")
        _git(staging, "tag", "-f", BASE_TAG, what="git tag")
        commit = _git(staging, "rev-parse", "HEAD", what="git rev-parse")
        provenance = {"identity": f"git-{commit[:12]}", "kind": "git", "url": url,
                      "ref": spec.ref, "commit": commit}
        return _finish_tree(staging, final, provenance)


def fetch_tarball(spec: SourceSpec) -> Tree:
    require_tools("tar", "git", purpose="unpacking a kernel tarball")
    final = paths.cache_dir("trees") / f"tarball-{spec.sha256[:16]}"
    cached_tree = _cached_tree(final)
    if cached_tree:
        return cached_tree
    with tempfile.TemporaryDirectory(dir=paths.cache_dir("tmp")) as tmp:
        local = Path(spec.url)
        if not local.is_file():
            local = Path(tmp) / "download.tar"
            try:
                with Progress(f"downloading {spec.url}", Unit.BYTES, estimate=False) as progress:
                    urllib.request.urlretrieve(spec.url, local,  # noqa: S310 (manifest-given URL)
                                               reporthook=_download_hook(progress))
            except OSError as error:
                raise HarnessError(f"cannot download {spec.url}: {error}") from None
        digest = hashlib.sha256(local.read_bytes()).hexdigest()
        if digest != spec.sha256:
            raise HarnessError(f"{spec.url}: sha256 is {digest}, the manifest says {spec.sha256}",
                               hint="fix the manifest's sha256 or the file")
        staging = Path(tmp) / "tree"
        staging.mkdir()
        extract_tarball(local, staging, f"extracting {spec.url}")
        _commit_as_base(staging, f"tarball {spec.url}")
        provenance = {"identity": f"tarball-{spec.sha256[:16]}", "kind": "tarball",
                      "url": spec.url, "sha256": spec.sha256}
        return _finish_tree(staging, final, provenance)


def _download_hook(progress: Progress):
    """urlretrieve's report hook: blocks so far, block size, total size (-1 when not sent)."""
    def hook(blocks: int, block_size: int, total: int) -> None:
        if total > 0:
            progress.expected = total
        got = blocks * block_size
        progress.update(min(got, total) if total > 0 else got)
    return hook


def use_path(spec: SourceSpec) -> Tree:
    tree = Path(spec.path).expanduser().resolve()
    if not (tree / "Makefile").is_file() or not (tree / "Kconfig").is_file():
        raise HarnessError(f"{tree} is not a kernel tree (no Makefile and Kconfig at its top)")
    if not (tree / ".git").exists():
        raise HarnessError(f"{tree} is not a git work tree",
                           hint="the harness applies and detects series with git: run `git init` there")
    commit = _git(tree, "rev-parse", "HEAD", what="git rev-parse")
    dirty = _git(tree, "status", "--porcelain", "--untracked-files=no", what="git status")
    suffix = "-dirty-" + hashlib.sha256(dirty.encode()).hexdigest()[:8] if dirty else ""
    provenance = {"identity": f"path-{commit[:12]}{suffix}", "kind": "path",
                  "path": str(tree), "commit": commit}
    return Tree(tree, provenance["identity"], provenance, managed=False)


def fetch(spec: SourceSpec) -> Tree:
    fetchers = {"debian": fetch_debian, "git": fetch_git, "tarball": fetch_tarball, "path": use_path}
    return fetchers[spec.kind](spec)
