import os
import sys

# The slow register-level reference lives next to the tests.
sys.path.insert(0, os.path.dirname(__file__))
os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_generate_tests(metafunc):
    # The shared hostile-grading tests (grading_fixtures/hostile_tests.py) run once per
    # student case of the lab module that imports them.
    if "hostile_sid" in metafunc.fixturenames:
        metafunc.parametrize("hostile_sid", list(metafunc.module.CASES))
