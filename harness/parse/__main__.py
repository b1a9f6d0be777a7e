"""`python -m harness.parse DUMP ...`: the same as `mmharness parse`."""

import sys

from harness.parse.cli import main

sys.exit(main())
