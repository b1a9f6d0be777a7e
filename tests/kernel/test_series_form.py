"""The series as a maintainer would receive it: checkpatch clean, every configuration builds warning-free.

Build-only: these need the manifest's tree and builds, not a booted guest.
Run for --manifest (the page_owner swap series' configurations) and for
ghost-swap-7.3 (both series; SWAP=y/ZSWAP=y, SWAP=y/ZSWAP=n and SWAP=n).
"""

import json

import pytest

from harness.build import checkpatch, kconfig, manifest as manifests, pipeline


SERIES_MANIFESTS = ("--manifest", "ghost-swap-7.3")


@pytest.fixture(params=SERIES_MANIFESTS)
def manifest(request):
    name = request.config.getoption("--manifest") if request.param == "--manifest" else request.param
    if request.param != "--manifest" and name == request.config.getoption("--manifest"):
        pytest.skip(f"{name} is --manifest: checked once, in the --manifest case")
    return manifests.load(name)


def wanted_symbols(variables: dict) -> dict[str, bool | None]:
    """Kconfig symbols a build's profile variables ask for (None: not asked)."""
    swap = variables.get("swap")
    return {
        "PAGE_OWNER": variables.get("page_owner"),
        "SWAP_PAGE_OWNER": variables.get("swap_page_owner"),
        "SWAP": swap,
        "ZSWAP": None if swap is None else bool(swap and variables.get("zswap")),
    }


@pytest.mark.build_only
def test_checkpatch_strict_reports_no_errors(manifest, results_dir):
    tree = pipeline.fetch(manifest)
    checked = 0
    for one in pipeline.series_to_apply(manifest):
        reports = checkpatch.check_series(tree.path, one, results_dir / f"checkpatch-{one.name}.log")
        checked += len(reports)
        failing = [f"{r.patch.name}: {r.errors} errors\n{r.output}" for r in reports if r.errors]
        assert not failing, "checkpatch --strict errors:\n" + "\n".join(failing)
    assert checked, f"manifest {manifest.name} has no patches to check"


@pytest.mark.build_only
@pytest.mark.build_matrix
def test_every_configuration_builds_warning_free(manifest, results_dir):
    built = pipeline.build_all(manifest)
    rows = []
    for configured, result in built:
        metadata = json.loads((result.directory / "metadata.json").read_text())
        assert metadata["status"] == "ok", configured.ref.label
        assert metadata.get("warnings", []) == [], f"{configured.ref.label}: {result.directory / 'build.log'}"
        config = kconfig.read_config(result.directory / "config")
        for symbol, wanted in wanted_symbols(configured.ref.variables).items():
            if wanted is not None:
                assert config.get(symbol, "n") == ("y" if wanted else "n"), f"{configured.ref.label}: {symbol}"
        rows.append(f"{configured.ref.label}: ok, 0 warnings, {result.directory}")
    (results_dir / "builds.txt").write_text("\n".join(rows) + "\n")
