"""Prove the property suite's strength: it kills every catalogued bug and passes every correct implementation.

``python -m catalog [--bugs] [--correct] [--runs 20] [--jobs 2] [--kills 3] [--only NAME ...] [--json FILE]``
(neither ``--bugs`` nor ``--correct``: both).

* Each file in ``catalog/findings/`` is a precision-only defect (SPEC §5:
  float32 arithmetic on float64 input, a low-precision output dtype of an
  adapter whose low precision the course does not score). A check the
  default rubric does not score must report it, and no scored check may fail
  it: a scored check that did would fail correct code computing at the
  working precision.
* Each file in ``catalog/bugs/`` is the reference's adapters with
  one realistic bug. The property suite runs against it until ``--kills``
  distinct properties have killed it (``--kills 0``: to the end), and the
  table names them. A bug no scored check fails SURVIVES (checks of kinds SPEC §5
  reports as findings do not count), and the command exits 1.
* Each file in ``catalog/correct/`` is an independently written
  correct implementation. The suite runs ``--runs`` times against it, run
  ``i`` with Hypothesis seed ``i``; one failing test in one run fails the
  command, and the table shows which test, which seed and the message.

How it runs (``tasks``): ``python -m pytest properties -p catalog.runner.plugin`` subprocesses,
``--jobs`` at a time, each with a wall-clock limit (``--timeout``), each
writing JUnit XML that is parsed into one result object feeding both the rich
table and ``--json``. The pytest plugin (``plugin``) parametrizes the
suite's ``adapters`` fixture over several implementations, so one process
tests several catalog entries (test ids get an ``impl.NAME`` part), exactly as
``--impl FILE`` would test each alone: same tests, same seed, same examples.
A process that hangs or crashes is retried split up (one entry, then one seed
per process), so the entry and seed at fault are the ones reported TIMED OUT
or ERROR.

Economy (CI runs this after the whole test suite, on two cores; a process
costs ~5 s of torch import and collection before its first test):

* Bugs share processes (up to ``BUGS_PER_PROCESS`` each) and run with the
  Hypothesis profile ``catalog``: 10 examples per test without the shrink
  phase. Shrinking finds the smallest failing example, which someone
  debugging wants and a kill count does not; generation, and so which tests
  fail, is unchanged. ``--bug-profile grading`` runs them with the grader's
  own derandomized draws instead.
* A bug file overrides some ``run_*`` adapters and takes the rest from the
  reference, so a test that never calls an overridden adapter runs the
  reference and cannot fail. Bug runs therefore deselect tests whose
  ``adapters`` marker (the adapters a test calls, ``harness/protocol.py``)
  names none of the overridden ones; tests declaring none always run. ``--full`` runs every test
  against every bug instead (several times slower). Deselection can only miss
  a kill, never invent one: a wrongly deselected killer shows as SURVIVED.
* With ``--kills N`` a bug's remaining tests are skipped ("spared") once N
  properties killed it, and ``test_agrees_with_reference*`` run last: the named laws
  are the killers reported, and a bug killed early costs a few tests.
* Correct implementations run together, ``SEEDS_PER_PROCESS`` seeds per
  process (each Hypothesis test parametrized once per seed, ids ``seed.N``),
  with the profile ``catalog-repeat``: ``CORRECT_EXAMPLES`` examples per test
  per seed, so the default 20 seeds draw 40 examples of every test (one
  ``fast`` run: 25) in a fraction of the time of 20 full runs.
* Neither profile has an example database, so no run replays another's
  failures: every bug and every seed is judged on its own draws. Bug runs use
  a fixed seed (``--seed``), so a kill in CI is reproducible.
"""
