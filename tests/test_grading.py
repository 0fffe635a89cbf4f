"""The nbgrader pipeline, end to end, on a temporary copy of the course directory.

One module-scoped run does what an instructor does (students -> generate ->
collect from an LMS folder -> autograde -> feedback -> export) for a class in
which every student is one case: the reference solution, an untouched
notebook, a partial one, and each hostile submission. Students are autograded
one by one, and after each one the grades of everybody graded before are
compared with what they were: no case may change another student's grade.

Expected scores are the points of the cells a fair grader would accept, read
from the source notebook's metadata (not typed in).
"""
from __future__ import annotations

import csv
import importlib.util
import json
import time
from pathlib import Path

import nbformat
import psutil
import pytest
from grading_fixtures import hostile
from grading_fixtures import submissions as subs

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:.*not in session.*"),
    pytest.mark.filterwarnings("ignore::nbformat.warnings.MissingIDFieldWarning"),
]

LAB = "lab2_systolic"
#: Wall-clock limit per student in these tests: a normal submission takes ~5 s,
#: the plain infinite loop one cell timeout (30 s).
WALL_CLOCK = 150.0
#: For the noisy interrupt-swallower the wall clock is set below the 30 s cell timeout, so
#: the kill path (not nbgrader giving up by itself) is what ends it: the last line of
#: defence, e.g. for a notebook whose many cells each run just under the cell timeout.
SWALLOW_WALL_CLOCK = 20.0


def _points():
    nb = nbformat.read(subs.GRADING / "source" / LAB / f"{LAB}.ipynb", as_version=4)
    auto, manual = {}, {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            (manual if meta.get("solution") else auto)[meta["grade_id"]] = float(meta["points"])
    return auto, manual


AUTO, MANUAL = _points()
AUTO_MAX = sum(AUTO.values())


def _minus(*cells):
    return AUTO_MAX - sum(AUTO[c] for c in cells)


# student id -> (how the LMS file is named, expected automatic score, expected status)
CASES = {
    "ref": ("ref_1001_2001_lab2_systolic.ipynb", AUTO_MAX, "graded"),
    "untouched": ("untouched_1002_2002_lab2_systolic.ipynb", 0.0, "graded"),
    "partial": ("partial_1003_2003_lab2_systolic.ipynb",
                sum(AUTO[c] for c in ("test_max_safe_terms", "test_ws_step", "test_ws_step_edges",
                                      "test_peak_tops")), "graded"),
    "raises": ("raises_1004_2004_lab2_systolic.ipynb", _minus("test_ws_step", "test_ws_step_edges"), "graded"),
    "loop": ("loop_1005_2005_lab2_systolic.ipynb", _minus("test_utilization"), "graded"),
    "swallow": ("swallow_1006_2006_lab2_systolic.ipynb", _minus("test_utilization"), "graded"),
    "noisy": ("noisy_1014_2014_lab2_systolic.ipynb", 0.0, "timeout"),
    "edited": ("edited_1007_2007_lab2_systolic.ipynb", _minus("test_ws_cycles"), "graded"),
    "deleted": ("deleted_1008_2008_lab2_systolic.ipynb", _minus("test_utilization"), "graded"),
    "untagged": ("untagged_1009_2009_lab2_systolic.ipynb", _minus("test_tiled_matmul"), "graded"),
    # Its patch (in the first answer cell) also forges the kernel's sealrun.seal, so every
    # hidden check from there on reports made-up results: all of them fail.
    "patched": ("patched_1010_2010_lab2_systolic.ipynb",
                _minus(*hostile.tests_after(LAB, "max_safe_terms")), "graded"),
    "library": ("library_1011_2011_lab2_systolic.ipynb", _minus("test_ws_cycles"), "graded"),
    "notjson": ("notjson_1012_2012_lab2_systolic.ipynb", 0.0, "invalid"),
    "wrongname": ("wrongname_1013_2013_Lab2 final (1).ipynb", AUTO_MAX, "graded"),
    # A blank notebook that looks for the instructor's sources and the checks' reference
    # code wherever they could be, and runs what it finds: it finds nothing.
    "copier": ("copier_1015_2015_lab2_systolic.ipynb", 0.0, "graded"),
}
ORDER = list(CASES)


def _build_submission(root: Path, sid: str, path: Path) -> None:
    if sid == "notjson":
        path.write_text('{"cells": [ this is not json')
        return
    if sid == "untouched":
        nb = subs.released(root, LAB)
    elif sid == "partial":
        nb = subs.solved(root, LAB, only={"max_safe_terms", "ws_step", "peak_tops"})
    elif sid == "raises":
        nb = subs.solved(root, LAB, ws_step=subs.RAISES)
    elif sid == "loop":
        nb = subs.solved(root, LAB, utilization=subs.INFINITE_LOOP)
    elif sid == "swallow":
        nb = subs.solved(root, LAB, utilization=subs.SWALLOWS_INTERRUPT)
    elif sid == "noisy":
        nb = subs.solved(root, LAB, utilization=subs.SWALLOWS_INTERRUPT_NOISY)
    elif sid == "edited":
        # A wrong answer, and the test cell rewritten to pass: nbgrader restores the test.
        nb = subs.solved(root, LAB, ws_cycles=subs.WRONG_CYCLES)
        subs.cell(nb, "test_ws_cycles").source = "print('all good')"
    elif sid == "deleted":
        # Deletes the test of a wrong answer and the test of a right one: both come back.
        nb = subs.solved(root, LAB, utilization=subs.WRONG_UTILIZATION)
        nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id")
                    not in ("test_utilization", "test_peak_tops")]
    elif sid == "untagged":
        nb = subs.solved(root, LAB, tiled_matmul=subs.WRONG_TILED)
        test = subs.cell(nb, "test_tiled_matmul")
        test.metadata = {}
        test.source = "print('nothing to see')"
    elif sid == "patched":
        nb = subs.solved(root, LAB, max_safe_terms=subs.MONKEYPATCH_TOOLS, ws_cycles=subs.FAKE_WS_CYCLES)
    elif sid == "library":
        nb = subs.solved(root, LAB, ws_cycles=subs.CALLS_LIBRARY)
    elif sid == "copier":
        nb = subs.released(root, LAB)
        subs.cell(nb, "max_safe_terms").source = subs.COPY_ANSWERS
    else:  # ref, wrongname
        nb = subs.solved(root, LAB)
    subs.write(nb, path)


def _load_course_module(root: Path):
    spec = importlib.util.spec_from_file_location("course_under_test", root / "course.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _scores(course, root):
    return {(r["assignment"], r["student_id"]): (float(r["score"]), r["status"])
            for r in course.export_rows(root)}


def _processes_in(directory: Path) -> list:
    """Processes whose working directory is inside ``directory`` (stray kernels)."""
    found = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if str(directory) in proc.cwd():
                found.append(proc.pid)
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return found


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("course")
    root = subs.course_copy(base)
    roster = subs.write_roster(base / "roster.csv", ORDER + ["absent"])
    subs.course(root, "students", str(roster))
    subs.course(root, "generate", LAB, "--no-labs")

    # The LMS download: one file per student, named the LMS's way, plus noise.
    inbox = base / "inbox"
    inbox.mkdir()
    for sid, (filename, _, _) in CASES.items():
        _build_submission(root, sid, inbox / filename)
    (inbox / "stranger_9999_lab2_systolic.ipynb").write_text("{}")
    (inbox / "ref_1001_2001_notes.txt").write_text("my notes")
    collect = subs.course(root, "collect", LAB, str(inbox))

    course = _load_course_module(root)
    outcomes, changed_others = {}, {}
    previous = _scores(course, root)
    for sid in ORDER:
        limit = SWALLOW_WALL_CLOCK if sid == "noisy" else WALL_CLOCK
        if sid == "ref":   # once through the command line, the way instructors run it
            start = time.monotonic()
            out = subs.course(root, "autograde", LAB, "--student", sid, "--wall-clock", str(limit))
            outcomes[sid] = {"status": json.loads((root / course.NOTES_FILE).read_text())[LAB][sid]
                             ["autograde"]["status"], "seconds": time.monotonic() - start, "cli": out.stdout}
        else:
            outcomes[sid] = course.autograde_one(root, LAB, sid, wall_clock=limit)
        now = _scores(course, root)
        changed_others[sid] = {key: (previous[key], now[key]) for key in previous
                               if key[1] != sid and previous[key] != now[key]}
        previous = now
    subs.course(root, "feedback", LAB, "--to", str(base / "feedback_out"))
    grades_csv = base / "grades.csv"
    subs.course(root, "export", "--to", str(grades_csv))
    with open(grades_csv, newline="") as fh:
        exported = {row["student_id"]: row for row in csv.DictReader(fh) if row["assignment"] == LAB}
    return {"root": root, "course": course, "outcomes": outcomes, "changed": changed_others,
            "csv": exported, "collect": collect.stdout, "feedback": base / "feedback_out",
            "base": base}


def _auto_scores(graded, sid):
    """{grade_id: auto_score} of the student's autograded cells, from the gradebook."""
    with graded["course"]._gradebook(graded["root"]) as gb:
        sub = gb.find_submission_notebook(LAB, LAB, sid)
        return {g.name: (g.auto_score, g.needs_manual_grade) for g in sub.grades}


def _check_case(graded, sid):
    _, expected_auto, expected_status = CASES[sid]
    row = graded["csv"][sid]
    assert row["status"] == expected_status, (row["status"], row["note"])
    assert graded["changed"][sid] == {}, f"grading {sid} changed others' grades: {graded['changed'][sid]}"
    if expected_status in ("timeout", "failed", "invalid"):
        assert float(row["score"]) == 0.0
        return row
    scores = _auto_scores(graded, sid)
    auto = sum(s for gid, (s, _) in scores.items() if gid in AUTO)
    assert auto == expected_auto, {gid: s for gid, (s, _) in scores.items()}
    # A written answer waits for a human; an unanswered one (the stub) scores 0 automatically.
    answered = sid not in ("untouched", "partial", "copier")
    for gid in MANUAL:
        score, needs_manual = scores[gid]
        assert needs_manual == answered, (gid, score, needs_manual)
        assert answered or score == 0, (gid, score)
    assert float(row["raw_score"]) == expected_auto
    assert float(row["max_score"]) == AUTO_MAX + sum(MANUAL.values())
    return row


def test_reference_solution_gets_full_automatic_marks(graded):
    row = _check_case(graded, "ref")
    assert row["needs_manual_grade"] == "True"
    assert "ref" in graded["outcomes"]["ref"]["cli"]


def test_untouched_notebook_scores_zero_without_crashing(graded):
    _check_case(graded, "untouched")


def test_partial_solution_gets_partial_credit(graded):
    row = _check_case(graded, "partial")
    assert 0 < float(row["score"]) < AUTO_MAX


def test_solution_that_raises_loses_only_its_tasks(graded):
    _check_case(graded, "raises")


def test_infinite_loop_is_interrupted_and_the_rest_is_graded(graded):
    _check_case(graded, "loop")


def test_swallowed_interrupt_costs_only_its_cell(graded):
    # The cell is stopped after the cell timeout, the kernel is replaced (its interrupt
    # was swallowed), the cells before are replayed and the rest is graded.
    row = _check_case(graded, "swallow")
    assert "stopped after the 30 s limit" in row["note"], row["note"]


def test_wall_clock_stops_a_hung_grader_and_its_kernel(graded):
    row = _check_case(graded, "noisy")
    out = graded["outcomes"]["noisy"]
    assert SWALLOW_WALL_CLOCK <= out["seconds"] < SWALLOW_WALL_CLOCK + 20, out
    assert "wall-clock limit" in row["note"] and "review by hand" in row["note"]
    assert not (graded["root"] / "autograded" / "noisy" / LAB).exists()
    assert _processes_in(graded["root"]) == [], "a kernel survived the wall-clock kill"


def test_edited_test_cell_is_restored(graded):
    row = _check_case(graded, "edited")
    assert "test_ws_cycles was edited" in row["note"]


def test_deleted_test_cells_are_put_back(graded):
    row = _check_case(graded, "deleted")
    assert "test_utilization was deleted" in row["note"]
    assert "test_peak_tops was deleted" in row["note"]


def test_test_cell_stripped_of_metadata_is_put_back(graded):
    row = _check_case(graded, "untagged")
    assert "test_tiled_matmul was deleted" in row["note"] or "stripped" in row["note"]


def test_monkeypatched_testing_tools_do_not_fake_a_pass(graded):
    _check_case(graded, "patched")
    nb = nbformat.read(graded["root"] / "autograded" / "patched" / LAB / f"{LAB}.ipynb", as_version=4)
    for gid in hostile.tests_after(LAB, "max_safe_terms"):
        assert [o for o in subs.cell(nb, gid).outputs if o.output_type == "error"], gid


def test_copying_sources_and_check_references_gains_nothing(graded):
    _check_case(graded, "copier")
    nb = nbformat.read(graded["root"] / "autograded" / "copier" / LAB / f"{LAB}.ipynb", as_version=4)
    seen = "".join(o.get("text", "") for o in subs.cell(nb, "max_safe_terms").outputs)
    assert "FOUND" not in seen, seen


def test_calling_the_library_answer_does_not_pass(graded):
    _check_case(graded, "library")
    nb = nbformat.read(graded["root"] / "autograded" / "library" / LAB / f"{LAB}.ipynb", as_version=4)
    errors = [o.evalue for o in subs.cell(nb, "test_ws_cycles").outputs if o.output_type == "error"]
    assert errors and "switched off" in errors[0]


def test_notebook_that_is_not_json_scores_zero_with_a_note(graded):
    row = _check_case(graded, "notjson")
    assert "not a valid notebook" in row["note"]


def test_wrongly_named_file_is_recognised_and_graded(graded):
    row = _check_case(graded, "wrongname")
    assert "Lab2 final (1).ipynb" in row["note"]


def test_collect_reports_unplaced_files_and_absent_students(graded):
    out = graded["collect"]
    assert "NOT PLACED: stranger_9999_lab2_systolic.ipynb" in out
    assert "NOT PLACED: ref_1001_2001_notes.txt" in out
    assert "no submission from: absent" in out
    assert graded["csv"]["absent"]["score"] == "0.0"
    assert graded["csv"]["absent"]["status"] == "not submitted"


def test_every_student_is_in_the_export_with_the_right_score(graded):
    assert set(graded["csv"]) == set(ORDER) | {"absent"}
    for sid, (_, expected_auto, _) in CASES.items():
        assert float(graded["csv"][sid]["score"]) == expected_auto, sid


def test_feedback_contains_no_hidden_tests(graded):
    html = sorted(graded["feedback"].glob("*.html"))
    # Every student who submitted gets a feedback file, with the reason where grading failed.
    assert {p.name.split("__")[0] for p in html} == set(CASES)
    failed = graded["feedback"] / f"notjson__{LAB}.html"
    assert "not a notebook" in failed.read_text()
    source = nbformat.read(graded["root"] / "source" / LAB / f"{LAB}.ipynb", as_version=4)
    hidden_lines = []
    for cell in source.cells:
        if "BEGIN HIDDEN TESTS" in cell.source:
            block = cell.source.split("### BEGIN HIDDEN TESTS")[1].split("### END HIDDEN TESTS")[0]
            hidden_lines += [line.strip() for line in block.splitlines() if line.strip()]
    assert hidden_lines
    for path in html:
        text = path.read_text()
        assert "HIDDEN TESTS" not in text, path.name
        assert "_checks import seal" not in text and "_reference(" not in text, path.name
        assert "mini_accel-sealed-check" not in text, path.name
        for line in hidden_lines:
            assert line not in text, (path.name, line)


def test_failed_hidden_checks_explain_without_giving_the_answer(graded):
    # The "edited" student's ws_cycles is off by one cycle per fold: the message says so,
    # names the case, and shows no expected value.
    nb = nbformat.read(graded["root"] / "autograded" / "edited" / LAB / f"{LAB}.ipynb", as_version=4)
    errors = [o for o in subs.cell(nb, "test_ws_cycles").outputs if o.output_type == "error"]
    assert errors, "the restored test should fail"
    text = errors[0].evalue + "".join(errors[0].traceback)
    assert "ws_cycles" in text
    assert "File " not in text and "seal(" not in text, "a traceback shows test source"
