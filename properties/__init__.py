"""Hypothesis properties that every correct implementation satisfies (run with ``pytest properties``)."""
