"""Helpers for tests/test_hub.py: throw-away Unix users, a JupyterHub on loopback,
a tiny graded lab, and the student's clicks in JupyterLab's Assignments tab."""
