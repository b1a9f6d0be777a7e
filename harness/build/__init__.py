"""The build half: from a manifest to a kernel and a guest image, with no VM.

manifest -> source (fetch the tree) -> series (apply the patches) -> kconfig
(the verified .config) -> kbuild (make, cached by key); pipeline chains them,
and guest builds the root filesystem the run half boots.
"""
