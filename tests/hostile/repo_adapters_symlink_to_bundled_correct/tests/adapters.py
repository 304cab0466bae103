"""Copy tricks: a course repository whose ``tests/adapters.py`` is a symlink to the bundled correct implementation.

Attack: the test replaces this file with a symlink to
``<grader root>/catalog/correct/einsum_adapters.py``; copied as a link into the scratch,
the worker imports through it.
The grader must: not let the link reach the grader's files, so nothing scores (the submission does
not load).
"""

HONEST = {}
UNLOADABLE = True
BUILD = {"symlinks": {"tests/adapters.py": "{grader_root}/catalog/correct/einsum_adapters.py"}}
