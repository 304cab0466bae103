"""Crashes: ``os._exit(0)`` while being imported (a clean exit status, no answer).

Attack: the worker disappears with status 0 before it says it is ready.
The grader must: report the submission as not loadable, not crash itself.
"""

import os

HONEST = {}
UNLOADABLE = True

os._exit(0)
