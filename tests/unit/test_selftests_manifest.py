"""The selftests manifest stays in step with the kernels the other suites test."""

from harness.build import kconfig, manifest as manifests


def test_patched_kernel_has_the_default_manifests_source_and_series():
    patched, default = manifests.load("selftests-7.3@patched"), manifests.load("default")
    assert patched.source == default.source
    assert patched.series == default.series, "edit selftests-7.3.yaml's kernels.patched when default.yaml changes"


def test_baseline_kernel_has_upstream_7_3s_source_and_series():
    baseline, upstream = manifests.load("selftests-7.3@v7.3"), manifests.load("upstream-7.3")
    assert baseline.source == upstream.source
    assert baseline.series == upstream.series


def test_both_kernels_build_the_selftests_profile_with_the_series_options_on():
    for name in ("selftests-7.3@v7.3", "selftests-7.3@patched"):
        [build] = manifests.load(name).builds
        profile = kconfig.load_profile(build.profile, build.variables)
        assert profile.boot and profile.variables == {"page_owner": True, "swap_page_owner": True}
        _, requests = kconfig.render(profile, (7, 3))
        wanted = {request.symbol: request.value for request in requests}
        # madvise(2) is what the swap selftests cannot do without (MADV_PAGEOUT); the
        # page-owner profile of the other suites leaves it out (tinyconfig).
        assert wanted["ADVISE_SYSCALLS"] == "y" and wanted["PAGE_OWNER"] == "y"
        assert wanted["SWAP"] == "y" and wanted["ZSWAP"] == "y" and wanted["MEMCG"] == "y"
