# Thin wrappers over the mmharness CLI and pytest. See README.md.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
MANIFEST ?= default
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := git make gcc flex bison bc libelf-dev libssl-dev perl cpio xz-utils dpkg \
	ccache qemu-system-x86 mmdebstrap e2fsprogs openssh-client python3-venv gawk

.PHONY: setup build test test-tree test-kernel test-series checkpatch check bench clean

setup:
	$(SUDO) apt-get update -q
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(APT_PACKAGES)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'

build:
	$(BIN)/mmharness build --manifest $(MANIFEST)

test:
	$(BIN)/pytest -q tests/unit

# Unit tests that read the cached Linux tree (Kconfig, series, page_owner_sort).
test-tree:
	$(BIN)/pytest -q tests/unit -m kernel_tree

# The kernel suite CI runs: every test in tests/kernel (they have all passed here).
KERNEL_TESTS ?= tests/kernel

test-kernel: build
	$(BIN)/pytest -q -p no:cacheprovider $(KERNEL_TESTS) --manifest $(MANIFEST)

test-series: build
	$(BIN)/pytest -q -p no:cacheprovider tests/kernel/test_page_owner_swap.py --manifest $(MANIFEST)

checkpatch:
	$(BIN)/mmharness checkpatch --manifest $(MANIFEST)

check: test test-kernel test-tree  # test-tree after the kernel suite has fetched the tree

bench:
	$(BIN)/python -m harness.bench

clean:
	rm -rf results .pytest_cache build *.egg-info
