"""The grader: runs the property and golden suites against a sandboxed submission and scores it by rubric."""
