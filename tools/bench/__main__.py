"""``python -m tools.bench``: the benchmarks, and the worker modes the bench starts itself in."""

import sys

from tools.bench.cli import main

sys.exit(main())
