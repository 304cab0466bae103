"""``python -m catalog``: see ``catalog/runner/cli.py``."""

import sys

from catalog.runner.cli import main

sys.exit(main())
