"""Command-line tools: the grader and its sandbox, the bug catalog runner, accounting and benchmarks."""
