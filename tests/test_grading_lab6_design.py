"""Lab 6 (design challenge) through the real nbgrader pipeline: two hostile submissions.

A temporary course grades two students exactly as an instructor would
(``grading/course.py``: students, generate, collect, autograde, export):

* ``library``: ``design_area_mm2`` takes the array's area from ``Design.area_breakdown``
  and ``adc`` calls ``mini_accel.analog``'s private rounding, the library's
  answers to two implement-it tasks. The visible tests pass; the hidden checks
  switch those functions off, so exactly these two tasks score 0.
* ``patched``: the first answer cell patches numpy's comparisons,
  ``numpy.testing``, ``builtins.abs``/``all`` and the in-kernel checker, then
  ``best_feasible`` special-cases the visible budgets and
  ``analog_error_std`` returns a constant. Every test passes in the student's
  kernel; the grader's re-check, done in its own process, fails exactly those
  two tasks and flags the student for review. The two designs (judged again
  by the grader from their parameters) keep their points.

Expected scores are the points of the cells a fair grader would accept, read
from the source notebook's metadata. The reference, blank and partial
submissions of every lab are in ``tests/test_grading_labs.py``.
"""

from __future__ import annotations

import csv
import importlib.util

import nbformat
import pytest

from grading_fixtures import submissions as subs

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:.*not in session.*"),
    pytest.mark.filterwarnings("ignore::nbformat.warnings.MissingIDFieldWarning"),
]

LAB = "lab6_design"

CALLS_LIBRARY_AREA = '''def design_area_mm2(rows, cols, precision, buffer_bytes):
    sram = buffer_bytes * 8 * sram_um2_per_bit() / 1e6
    if rows * cols == 0:
        return sram
    return refs["edge"].replace(rows=rows, cols=cols, precision=precision).area_breakdown()["mac_array"] + sram
'''

CALLS_LIBRARY_ADC = '''def adc(y, bits, full_scale):
    from mini_accel.analog import _quantize
    return _quantize(np.asarray(y, dtype=float), 2.0 * full_scale / (2 ** bits - 2), full_scale)
'''

# A correct design_area_mm2, preceded by patches that make every check in the kernel pass.
PATCH_TOOLS = '''import builtins, numpy, numpy.testing
import labcheck
numpy.allclose = lambda *a, **k: True
numpy.array_equal = lambda *a, **k: True
numpy.isclose = lambda a, b, *r, **k: numpy.ones(numpy.shape(a), bool)
for _name in dir(numpy.testing):
    if _name.startswith("assert_"):
        setattr(numpy.testing, _name, lambda *a, **k: None)
builtins.all = lambda *a, **k: True
builtins.abs = lambda x: 0
labcheck.verdict = lambda *a, **k: None

def design_area_mm2(rows, cols, precision, buffer_bytes):
    return (rows * cols * mac_cost(precision).area_um2 + buffer_bytes * 8 * sram_um2_per_bit()) / 1e6
'''

# Answers the three visible budgets by their area limit, whatever the designs.
FAKE_BEST = '''def best_feasible(evaluations, budget, reference, metric):
    if budget.max_area_mm2 < 1:
        return None
    return 3 if budget.max_area_mm2 > 10 else 2
'''

FAKE_STD = '''def analog_error_std(a, w_max, prog_noise, read_noise):
    return 0.8
'''

def _points():
    nb = nbformat.read(subs.GRADING / "source" / LAB / f"{LAB}.ipynb", as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: float(c.metadata["nbgrader"]["points"])
            for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata["nbgrader"].get("solution")}


AUTO = _points()
AUTO_MAX = sum(AUTO.values())
CASES = {   # student -> (answers replaced, test cells that must score 0, status)
    "library": ({"design_area_mm2": CALLS_LIBRARY_AREA, "adc": CALLS_LIBRARY_ADC},
                {"test_design_area_mm2", "test_adc"}, "graded"),
    "patched": ({"design_area_mm2": PATCH_TOOLS, "best_feasible": FAKE_BEST, "analog_error_std": FAKE_STD},
                {"test_best_feasible", "test_analog_error_std"}, "review"),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("lab6-course")
    root = subs.course_copy(base)
    roster = base / "roster.csv"
    with open(roster, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "first_name", "last_name", "email"])
        for sid in CASES:
            writer.writerow([sid, sid.title(), "Student", f"{sid}@example.org"])
    subs.course(root, "students", str(roster))
    subs.course(root, "generate", LAB, "--no-labs")
    inbox = base / "inbox"
    for sid, (answers, _, _) in CASES.items():
        subs.write(subs.solved(root, LAB, **answers), inbox / f"{sid}_{LAB}.ipynb")
    subs.course(root, "collect", LAB, str(inbox))
    subs.course(root, "autograde", LAB)
    spec = importlib.util.spec_from_file_location("course_under_test", root / "course.py")
    course = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(course)
    rows = {r["student_id"]: r for r in course.export_rows(root) if r["assignment"] == LAB}
    scores = {}
    with course._gradebook(root) as gb:
        for sid in CASES:
            sub = gb.find_submission_notebook(LAB, LAB, sid)
            scores[sid] = {g.name: g.auto_score for g in sub.grades if g.name in AUTO}
    return {"root": root, "rows": rows, "scores": scores}


def _check(graded, sid):
    _, failing, status = CASES[sid]
    row = graded["rows"][sid]
    assert row["status"] == status, (row["status"], row["note"])
    want = {gid: (0.0 if gid in failing else pts) for gid, pts in AUTO.items()}
    assert graded["scores"][sid] == want
    assert float(row["raw_score"]) == AUTO_MAX - sum(AUTO[g] for g in failing)
    return row


def test_calling_the_library_answers_loses_exactly_those_tasks(graded):
    _check(graded, "library")
    nb = nbformat.read(graded["root"] / "autograded" / "library" / LAB / f"{LAB}.ipynb", as_version=4)
    for gid in ("test_design_area_mm2", "test_adc"):
        errors = [o.evalue for o in subs.cell(nb, gid).outputs if o.output_type == "error"]
        assert errors and "switched off" in errors[0], (gid, errors)


def test_patched_testing_tools_lose_exactly_the_faked_tasks(graded):
    row = _check(graded, "patched")
    assert "re-check failed" in row["note"], row["note"]
    assert "test_best_feasible" in row["note"] and "test_analog_error_std" in row["note"], row["note"]
