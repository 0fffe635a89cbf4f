"""Every lab's hostile submissions through the real nbgrader pipeline, one course per lab.

For each lab with cases in ``grading_fixtures/hostile_cases.py`` (labs 3-9), one
temporary course grades one student per case exactly as an instructor would
(``grading/course.py``: students, generate, collect, autograde with two
workers, feedback, export), once per lab for all the tests below:

* each hostile submission loses exactly the points of its case's test cells,
  with the expected status;
* the library calls of the ``library`` case fail with the grader's
  "switched off" message;
* every task of the ``patched`` case fails with an error in its output;
* no feedback file shows a hidden test.

One lab alone: ``MINI_ACCEL_LABS=lab5_edge_server pytest tests/test_grading_hostile.py``
(or ``-k lab5_edge_server``). Lab 2's hostile cases are in ``tests/test_grading.py``.
"""
from __future__ import annotations

import pytest
from grading_fixtures import hostile
from grading_fixtures import submissions as subs
from grading_fixtures.hostile_cases import CASES

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:.*not in session.*"),
    pytest.mark.filterwarnings("ignore::nbformat.warnings.MissingIDFieldWarning"),
]

LABS = [lab for lab in subs.course_labs() if lab in CASES]
LAB_CASES = [pytest.param(lab, sid, id=f"{lab}-{sid}") for lab in LABS for sid in CASES[lab]]


@pytest.fixture(scope="module")
def graded_lab(tmp_path_factory):
    """``graded_lab(lab)``: the lab's course, graded on first use and kept, so that each lab
    is graded once whatever order the tests run in."""
    courses: dict = {}

    def graded(lab: str) -> dict:
        if lab not in courses:
            courses[lab] = hostile.grade(tmp_path_factory.mktemp(lab), lab, CASES[lab])
        return courses[lab]
    return graded


@pytest.mark.parametrize("lab, sid", LAB_CASES)
def test_hostile_submission_loses_exactly_its_tasks(graded_lab, lab, sid):
    hostile.check_loses_exactly_its_tasks(graded_lab(lab), sid)


@pytest.mark.parametrize("lab", LABS)
def test_calling_the_library_is_switched_off(graded_lab, lab):
    hostile.check_switched_off(graded_lab(lab), "library")


@pytest.mark.parametrize("lab", LABS)
def test_patched_tools_are_caught_by_the_grader_and_flagged(graded_lab, lab):
    hostile.check_flagged_for_review(graded_lab(lab), "patched")


@pytest.mark.parametrize("lab", LABS)
def test_feedback_shows_no_hidden_test(graded_lab, lab):
    hostile.check_feedback_has_no_hidden_test(graded_lab(lab))
