"""Unit tests of the reference implementation and the tools."""
