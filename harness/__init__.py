"""What the suites share: the adapter protocol as code, loading the implementation under test, inputs, comparison.

Dependencies point one way: ``reference`` ← ``harness`` ← ``properties``, ``golden`` ← ``catalog``, ``grader``.
Nothing here imports a suite, the catalog or the grader.
"""
