"""Lab 3 (memory hierarchy and energy) through the real autograde: two hostile submissions.

One temporary course grades two students exactly as an instructor would
(``grading/course.py``: students, generate, collect, autograde, export):

* ``library``: the reference answers, except that the LRU cache and the
  dataflow traffic counts call the library's simulator instead of computing
  them. The visible tests pass (the library is right), the hidden checks
  switch the simulator off: exactly those two tasks' points are lost.
* ``patched``: the reference answers, except that the first answer cell
  patches numpy's comparisons, ``numpy.testing``, ``builtins.abs``/``all`` and
  the in-kernel checker, and two answers only fit the visible examples. Every
  check in the kernel "passes"; the grader's re-check outside the kernel
  fails exactly those two tasks and flags the submission for review.

The feedback HTML of both shows no hidden test. Expected scores are read
from the source notebook's metadata, not typed in.
The shared cases (loops, edited and deleted tests, bad files...) are in
``tests/test_grading.py``; full, zero and partial credit in
``tests/test_grading_labs.py``.
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

LAB = "lab3_memory"

CALLS_LIBRARY_CACHE = '''from mini_accel.memory import Cache, MemoryHierarchy

def lru_misses(addresses, size_bytes, line_bytes, ways):
    cache = Cache("L1", size_bytes, ways=ways, line_bytes=line_bytes)
    return MemoryHierarchy(cache).run(np.asarray(addresses, dtype=np.int64))["L1"].misses
'''

CALLS_LIBRARY_TRAFFIC = '''from mini_accel import systolic_traffic as traffic

def array_buffer_traffic(M, K, N, rows, cols, dataflow):
    t = traffic(M, K, N, rows, cols, dataflow)
    return {"a_reads": t["a_reads"], "b_reads": t["b_reads"], "out_writes": t["out_writes"]}
'''

# Patches every testing tool the kernel could use, then answers the visible example only.
MONKEYPATCH_TOOLS = '''import builtins, numpy, numpy.testing
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

def energy_breakdown(counts, costs):
    return {"mac": 4600.0, "dram": 13000.0, "total": 17600.0}
'''

FAKE_TILED = '''def tiled_dram_words(M, K, N, tile_m, tile_k, tile_n, order):
    visible = {
        (256, 256, 256, 64, 64, 64, "mnk"): {"A": 262144, "B": 262144, "C": 65536},
        (256, 256, 256, 64, 64, 64, "mkn"): {"A": 65536, "B": 262144, "C": 458752},
        (100, 100, 100, 100, 100, 10, "knm"): {"A": 10000, "B": 10000, "C": 10000},
        (300, 200, 100, 64, 32, 16, "nmk"): {"A": 420000, "B": 100000, "C": 30000},
        (300, 200, 100, 64, 32, 16, "kmn"): {"A": 60000, "B": 100000, "C": 390000},
    }
    return visible.get((M, K, N, tile_m, tile_k, tile_n, order), {"A": 1, "B": 1, "C": 1})
'''

# student id -> (answer overrides, test cells that must fail, expected status)
CASES = {
    "library": ({"lru_misses": CALLS_LIBRARY_CACHE, "array_buffer_traffic": CALLS_LIBRARY_TRAFFIC},
                ("test_lru_misses", "test_lru_misses_edges", "test_array_buffer_traffic"), "graded"),
    "patched": ({"energy_breakdown": MONKEYPATCH_TOOLS, "tiled_dram_words": FAKE_TILED},
                ("test_energy_breakdown", "test_tiled_dram_words"), "review"),
}


def _points():
    nb = nbformat.read(subs.GRADING / "source" / LAB / f"{LAB}.ipynb", as_version=4)
    return {c.metadata.nbgrader["grade_id"]: float(c.metadata.nbgrader["points"]) for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata.nbgrader.get("solution")}


AUTO = _points()


def _load_course(root):
    spec = importlib.util.spec_from_file_location("course_under_test", root / "course.py")
    course = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(course)
    return course


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("course")
    root = subs.course_copy(base)
    course = _load_course(root)

    def run(*args):   # the instructor's commands, in this process to save start-up time
        assert course.main(["--root", str(root), *args]) == 0, args

    roster = base / "roster.csv"
    with open(roster, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "first_name", "last_name", "email"])
        for sid in CASES:
            writer.writerow([sid, sid.title(), "Student", f"{sid}@example.org"])
    run("students", str(roster))
    run("generate", LAB, "--no-labs")
    inbox = base / "inbox"
    for sid, (overrides, _, _) in CASES.items():
        subs.write(subs.solved(root, LAB, **overrides), inbox / f"{sid}_{LAB}.ipynb")
    run("collect", LAB, str(inbox))
    run("autograde", LAB, "--workers", "2")     # one grading process per student
    run("feedback", LAB, "--to", str(base / "feedback"))
    rows = {r["student_id"]: r for r in course.export_rows(root) if r["assignment"] == LAB}
    cells = {}
    with course._gradebook(root) as gb:
        for sid in CASES:
            sub = gb.find_submission_notebook(LAB, LAB, sid)
            cells[sid] = {g.name: g.auto_score for g in sub.grades if g.name in AUTO}
    return {"root": root, "rows": rows, "cells": cells, "feedback": base / "feedback"}


@pytest.mark.parametrize("sid", list(CASES))
def test_hostile_submission_loses_exactly_its_tasks(graded, sid):
    _, failing, status = CASES[sid]
    row = graded["rows"][sid]
    assert row["status"] == status, (row["status"], row["note"])
    scores = graded["cells"][sid]
    assert {gid for gid, s in scores.items() if s != AUTO[gid]} == set(failing), scores
    assert all(scores[gid] == 0 for gid in failing), scores
    assert float(row["raw_score"]) == sum(AUTO.values()) - sum(AUTO[g] for g in failing)


def test_calling_the_simulator_is_switched_off(graded):
    path = graded["root"] / "autograded" / "library" / LAB / f"{LAB}.ipynb"
    nb = nbformat.read(path, as_version=4)
    for gid in CASES["library"][1]:
        errors = [o.evalue for o in subs.cell(nb, gid).outputs if o.output_type == "error"]
        assert errors and "switched off" in errors[0], (gid, errors)


def test_patched_tools_are_caught_by_the_grader_and_flagged(graded):
    note = graded["rows"]["patched"]["note"]
    assert "re-check failed" in note, note
    for gid in CASES["patched"][1]:
        assert gid in note, (gid, note)


def test_feedback_shows_no_hidden_test(graded):
    html = sorted(graded["feedback"].glob("*.html"))
    assert {p.name.split("__")[0] for p in html} == set(CASES)
    for path in html:
        text = path.read_text()
        for secret in ("HIDDEN TESTS", "_checks", "seal(", "mini_accel-sealed-check"):
            assert secret not in text, (path.name, secret)
