"""The kernel's own selftests of swap as a peer suite: which programs (programs.yaml),
built on the host from the tree under test (build.py), run in the guest (guest.py)."""
