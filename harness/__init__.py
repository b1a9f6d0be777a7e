"""mmharness: build patched kernels, boot them in QEMU, assert on debugfs."""
