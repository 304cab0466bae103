"""Crashes: the worker kills itself with an unknown signal number (SIGRTMIN + 13) while being imported.

Attack: the first worker (the import check) dies of a signal ``signal.Signals`` cannot name, before
it says it is ready.
The grader must: report the submission as not loadable (nothing can be graded), not crash itself.
"""

import signal

HONEST = {}
UNLOADABLE = True

signal.raise_signal(signal.SIGRTMIN + 13)
