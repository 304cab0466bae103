"""Command-line tools: accounting, demo and (later) grading and snapshot upkeep."""
