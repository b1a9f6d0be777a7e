"""The series as a maintainer would receive it: checkpatch clean, every configuration builds warning-free.

Build-only: these need the manifest's tree and builds, not a booted guest.
"""

import json

import pytest

from harness import checkpatch, kconfig, manifest as manifests, pipeline


@pytest.fixture
def manifest(request):
    return manifests.load(request.config.getoption("--manifest"))


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
def test_every_configuration_builds_warning_free(manifest, results_dir):
    built = pipeline.build_all(manifest)
    rows = []
    for configured, result in built:
        metadata = json.loads((result.directory / "metadata.json").read_text())
        assert metadata["status"] == "ok", configured.ref.label
        assert metadata.get("warnings", []) == [], f"{configured.ref.label}: {result.directory / 'build.log'}"
        config = kconfig.read_config(result.directory / "config")
        for symbol, wanted in (("PAGE_OWNER", configured.ref.variables.get("page_owner")),
                               ("SWAP_PAGE_OWNER", configured.ref.variables.get("swap_page_owner"))):
            if wanted is not None:
                assert config.get(symbol, "n") == ("y" if wanted else "n"), f"{configured.ref.label}: {symbol}"
        rows.append(f"{configured.ref.label}: ok, 0 warnings, {result.directory}")
    (results_dir / "builds.txt").write_text("\n".join(rows) + "\n")
