"""Helpers for tests/test_grading.py: temporary course copies and submissions, fair and hostile."""
