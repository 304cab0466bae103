"""Copy tricks: a lone-file submission that is a symlink to the grader's bundled correct implementation.

Attack: the test replaces this file with a symlink to
``<grader root>/catalog/correct/einsum_adapters.py``; a grader that resolves the path
before copying grades the staff's own correct code as the student's.
The grader must: not follow a submission's symlink out of it (refuse it, or copy the link, which then
points nowhere it can read), so nothing scores and the report says the submission could not be loaded.
"""

HONEST = {}
UNLOADABLE = True
BUILD = {"replace_with_symlink": "{grader_root}/catalog/correct/einsum_adapters.py"}
