"""The suites' shared options and fixtures live in the harness (``harness/pytest_plugin.py``)."""

pytest_plugins = ("harness.pytest_plugin",)
