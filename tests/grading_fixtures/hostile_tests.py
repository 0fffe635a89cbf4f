"""The tests every lab's hostile-submission module shares (``tests/test_grading_<lab>.py``).

A lab's module defines ``LAB`` and ``CASES`` (see :mod:`grading_fixtures.hostile`)
and imports these names; ``graded`` reads both from the importing module, and
``hostile_sid`` is parametrized over its ``CASES`` by ``tests/conftest.py``.
"""
from __future__ import annotations

import pytest

from . import hostile


@pytest.fixture(scope="module")
def graded(request, tmp_path_factory):
    lab, cases = request.module.LAB, request.module.CASES
    return hostile.grade(tmp_path_factory.mktemp(lab), lab, cases)


def test_hostile_submission_loses_exactly_its_tasks(graded, hostile_sid):
    hostile.check_loses_exactly_its_tasks(graded, hostile_sid)


def test_calling_the_library_is_switched_off(graded):
    hostile.check_switched_off(graded, "library")


def test_patched_tools_are_caught_by_the_grader_and_flagged(graded):
    hostile.check_flagged_for_review(graded, "patched")


def test_feedback_shows_no_hidden_test(graded):
    hostile.check_feedback_has_no_hidden_test(graded)
