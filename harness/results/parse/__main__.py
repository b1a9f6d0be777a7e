"""`python -m harness.results.parse DUMP ...`: the same as `mmharness parse`."""

import sys

from harness.results.parse.cli import main

sys.exit(main())
