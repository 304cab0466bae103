"""The hostile zoo (``tests/test_hostile_zoo.py`` grades each submission here): never collected, never imported.

Everything below this folder is a hostile submission or a file one needs; pytest must not import any
of it (a submission's own ``conftest.py`` or ``test_*.py`` would run in the test process).
"""

collect_ignore_glob = ["*"]
