"""Implementations with known answers: deliberate bugs every property run must kill, and correct ones it must pass."""
