"""Every lab through the real nbgrader pipeline: full marks, zero and partial credit.

For each lab in ``grading/source`` one temporary course grades three
students, exactly as an instructor would (``grading/course.py``: students,
generate, collect, autograde, export):

* ``ref``: the released notebook with every reference answer filled in gets
  all the automatic points (written answers wait for a human);
* ``untouched``: the released notebook as downloaded scores 0, and the grader
  does not crash on it;
* ``partial``: the first half of the answers (in notebook order) gets some
  but not all of the automatic points.

The hostile submissions (loops, swallowed interrupts, edited or deleted
tests, patched tools, files that are not notebooks...) are in
``tests/test_grading.py`` and the per-lab ``tests/test_grading_<lab>.py``.
"""
from __future__ import annotations

import importlib.util
import os

import nbformat
import pytest
from grading_fixtures import submissions as subs

LABS = subs.course_labs()
STUDENTS = ("ref", "untouched", "partial")


def _points(lab: str) -> tuple[float, list[str]]:
    """(automatic points, answer cells in notebook order) from the source notebook."""
    nb = nbformat.read(subs.GRADING / "source" / lab / f"{lab}.ipynb", as_version=4)
    auto, answers = 0.0, []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            auto += float(meta.get("points", 0))
        if meta.get("solution") and cell.cell_type == "code":
            answers.append(meta["grade_id"])
    return auto, answers


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    base = tmp_path_factory.mktemp("labs-course")
    root = subs.course_copy(base)
    roster = subs.write_roster(base / "roster.csv", STUDENTS)
    subs.course(root, "students", str(roster))
    for lab in LABS:
        subs.course(root, "generate", lab, "--no-labs")
        inbox = base / f"inbox-{lab}"
        _, answers = _points(lab)
        notebooks = {
            "ref": subs.solved(root, lab),
            "untouched": subs.released(root, lab),
            "partial": subs.solved(root, lab, only=set(answers[: len(answers) // 2])),
        }
        for sid, nb in notebooks.items():
            subs.write(nb, inbox / f"{sid}_{lab}.ipynb")   # as an LMS names downloads
        subs.course(root, "collect", lab, str(inbox))
        subs.course(root, "autograde", lab, "--workers", "2")   # one process per student, 2 at a time
    spec = importlib.util.spec_from_file_location("course_under_test", root / "course.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {(r["assignment"], r["student_id"]): r for r in module.export_rows(root)}


def test_every_lab_has_automatic_and_manual_points():
    assert {"lab1_networks", "lab2_systolic"} <= set(LABS) or os.environ.get("MINI_ACCEL_LABS")
    for lab in LABS:
        auto, answers = _points(lab)
        assert auto > 0 and len(answers) >= 4, lab


@pytest.mark.parametrize("lab", LABS)
def test_reference_solution_gets_every_automatic_point(course, lab):
    row = course[(lab, "ref")]
    assert row["status"] == "graded", row["note"]
    assert float(row["raw_score"]) == _points(lab)[0], row["note"]
    assert row["needs_manual_grade"], "the written answer should wait for a human"


@pytest.mark.parametrize("lab", LABS)
def test_untouched_notebook_scores_zero(course, lab):
    row = course[(lab, "untouched")]
    assert row["status"] == "graded", row["note"]
    assert float(row["raw_score"]) == 0.0


@pytest.mark.parametrize("lab", LABS)
def test_half_solved_notebook_gets_partial_credit(course, lab):
    row = course[(lab, "partial")]
    assert row["status"] == "graded", row["note"]
    assert 0.0 < float(row["raw_score"]) < _points(lab)[0]
