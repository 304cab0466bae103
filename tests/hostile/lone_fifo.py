"""Copy tricks: a lone-file submission that is a FIFO (the test makes it at run time; git cannot carry one).

Attack: whoever opens it to read or copy it blocks forever, there being no writer.
The grader must: not block on it: report it as not loadable, promptly.
"""

HONEST = {}
UNLOADABLE = True
BUILD = {"replace_with_fifo": True}
