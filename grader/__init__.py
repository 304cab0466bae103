"""The grader: scores a student submission by rubric, names likely bugs, and writes reports.

How one submission goes from the command line to its score:

1. ``cli.main`` parses ``python -m grader SUBMISSION`` and loads the rubric (``rubric.py``, ``rubrics/*.toml``).
2. ``cli.grade_submission`` starts a ``sandbox.Sandbox`` (``worker.py`` in the box) to check that it imports.
3. ``suite_run.run_suites`` runs pytest over the suites with ``-p grader.pytest_plugin``: each adapter call goes to
   a sandboxed worker (``wire.py`` messages), each verdict comes back on a record pipe the worker never holds.
4. ``scoring.grade`` counts each check toward its adapter's problem (``harness/protocol.py``) and scores them.
5. ``diagnosis.likely_bugs`` names catalog bugs the failed adapters reproduce; ``reports.py`` writes every format.

Around it: ``gradebook.py`` records a ``--batch`` as it goes (a rerun resumes); ``bundle.py`` builds the Gradescope
autograder zip, whose ``run_autograder`` (``gradescope/``) runs ``autograder.py`` once per submission.
"""
