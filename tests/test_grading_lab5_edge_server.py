"""Lab 5 (edge vs server) through the real nbgrader pipeline: two hostile submissions.

A temporary course grades two students exactly as an instructor would
(``grading/course.py``: students, generate, collect, autograde, export):

* ``library``: ``max_batch_within`` returns ``model.max_batch(...)`` and
  ``usd_per_million`` asks ``total_cost_of_ownership``, the library's answers
  to two implement-it tasks. The visible tests pass; the hidden checks switch
  those functions off, so exactly these two tasks score 0.
* ``patched``: the first answer cell patches numpy's comparisons,
  ``numpy.testing``, ``builtins.abs``/``all`` and the in-kernel checker, then
  ``place_apps`` and ``kwh_per_1000_to_joules`` return made-up numbers. Every
  test passes in the student's kernel; the grader's re-check, done in its own
  process, fails exactly those two tasks and flags the student for review.

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

LAB = "lab5_edge_server"

CALLS_LIBRARY_BATCH = '''def max_batch_within(model, deadline_s):
    return model.max_batch(deadline_s)
'''

CALLS_LIBRARY_TCO = '''def usd_per_million(purchase_usd, power_w, throughput_ips, years=5, pue=1.57, usd_per_kwh=0.0806, utilization=0.3):
    tco = ma.edge_server.total_cost_of_ownership(purchase_usd, power_w, years=years, pue=pue,
                                                 usd_per_kwh=usd_per_kwh, utilization=utilization)
    return tco.cost_per_inference(throughput_ips) * 1e6
'''

# A correct roofline, preceded by patches that make every check in the kernel pass.
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

def roofline(intensity, peak_ops, bandwidth):
    return float(min(peak_ops, intensity * bandwidth)), ("memory" if intensity < peak_ops / bandwidth else "compute")
'''

# Right names and bounds for the visible apps, made-up numbers (abs() is patched away).
FAKE_PLACE_APPS = '''def place_apps(apps, peak_ops, bandwidth):
    return [{"app": a.name, "ops_per_byte": 1.0, "attainable_tops": 1.0,
             "bound": "compute" if a.name.startswith("CNN") else "memory"} for a in apps]

TPU_RIDGE_MACS_PER_BYTE = 1353
'''

FAKE_KWH = '''def energy_per_inference(model, batch):
    return model.power_w * batch_latency(model, batch) / batch

def kwh_per_1000_to_joules(kwh_per_1000):
    return 7.2
'''


def _points():
    nb = nbformat.read(subs.GRADING / "source" / LAB / f"{LAB}.ipynb", as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: float(c.metadata["nbgrader"]["points"])
            for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata["nbgrader"].get("solution")}


AUTO = _points()
AUTO_MAX = sum(AUTO.values())
CASES = {   # student -> (answers replaced, test cells that must score 0, status)
    "library": ({"max_batch_within": CALLS_LIBRARY_BATCH, "usd_per_million": CALLS_LIBRARY_TCO},
                {"test_max_batch_within", "test_usd_per_million"}, "graded"),
    "patched": ({"roofline": PATCH_TOOLS, "place_apps": FAKE_PLACE_APPS, "energy_per_inference": FAKE_KWH},
                {"test_place_apps", "test_energy_per_inference"}, "review"),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("lab5-course")
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
    for gid in ("test_max_batch_within", "test_usd_per_million"):
        errors = [o.evalue for o in subs.cell(nb, gid).outputs if o.output_type == "error"]
        assert errors and "switched off" in errors[0], (gid, errors)


def test_patched_testing_tools_lose_exactly_the_faked_tasks(graded):
    row = _check(graded, "patched")
    assert "re-check failed" in row["note"], row["note"]
    assert "test_place_apps" in row["note"] and "test_energy_per_inference" in row["note"], row["note"]
