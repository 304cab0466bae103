"""The bug catalog: realistic bugs, correct implementations of many styles, and the runner proving the suite
kills every bug and passes every correct implementation (``python -m catalog``)."""
