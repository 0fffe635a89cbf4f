"""Hostile submissions per lab through the real pipeline (``tests/test_grading_hostile.py``).

Each lab's cases are data in :mod:`grading_fixtures.hostile_cases`: student id ->
(answers replaced, test cells that must score 0, expected status). The usual two are

* ``library``: implement-it tasks answered by calling the library; the hidden
  checks switch those functions off, so exactly these tasks score 0;
* ``patched``: answers that fake a pass by patching numpy, ``builtins`` and
  the kernel's half of the sealed checks (``PATCH_TESTING_TOOLS``); the
  grader's verdict, given in its own process, fails exactly those tasks.

:func:`grade` runs the instructor's commands on a temporary course; the
``check_*`` functions are the assertions every lab shares.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat

from . import submissions as subs

#: Patches every testing tool the kernel could use; an answer follows it.
PATCH_TESTING_TOOLS = subs.PATCH_TESTING_TOOLS


def auto_points(lab: str) -> dict:
    """{grade_id: points} of the automatically graded test cells of a lab."""
    nb = nbformat.read(subs.GRADING / "source" / lab / f"{lab}.ipynb", as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: float(c.metadata["nbgrader"]["points"])
            for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata["nbgrader"].get("solution")}


def tests_after(lab: str, answer_id: str) -> set:
    """The automatically graded test cells that come after answer cell ``answer_id``.

    What a ``PATCH_TESTING_TOOLS`` submission loses when the patch sits in that answer
    cell: from there on its forged ``sealrun.seal`` prints made-up results for every
    hidden check, and the grader fails every one of them.
    """
    nb = nbformat.read(subs.GRADING / "source" / lab / f"{lab}.ipynb", as_version=4)
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
    start = ids.index(answer_id)
    return {gid for gid in ids[start:] if gid in auto_points(lab)}


def grade(base: Path, lab: str, cases: dict) -> dict:
    """Grade one student per case in a fresh course under ``base``; return what the checks need."""
    root = subs.course_copy(base)
    spec = importlib.util.spec_from_file_location("course_under_test", root / "course.py")
    course = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(course)

    def run(*args):   # the instructor's commands, in this process to save start-up time
        assert course.main(["--root", str(root), *args]) == 0, args

    roster = subs.write_roster(base / "roster.csv", cases)
    run("students", str(roster))
    run("generate", lab, "--no-labs")
    inbox = base / "inbox"
    for sid, (answers, _, _) in cases.items():
        subs.write(subs.solved(root, lab, **answers), inbox / f"{sid}_{lab}.ipynb")
    run("collect", lab, str(inbox))
    run("autograde", lab, "--workers", "2")     # one grading process per student
    run("feedback", lab, "--to", str(base / "feedback"))
    auto = auto_points(lab)
    rows = {r["student_id"]: r for r in course.export_rows(root) if r["assignment"] == lab}
    scores = {}
    with course._gradebook(root) as gb:
        for sid in cases:
            sub = gb.find_submission_notebook(lab, lab, sid)
            scores[sid] = {g.name: g.auto_score for g in sub.grades if g.name in auto}
    return {"lab": lab, "cases": cases, "auto": auto, "root": root, "rows": rows,
            "scores": scores, "feedback": base / "feedback"}


def check_loses_exactly_its_tasks(graded: dict, sid: str) -> dict:
    """Every automatic point but those of the case's failing cells, and the expected status."""
    _, failing, status = graded["cases"][sid]
    auto, row = graded["auto"], graded["rows"][sid]
    assert row["status"] == status, (row["status"], row["note"])
    assert set(failing) <= set(auto), failing
    want = {gid: (0.0 if gid in failing else pts) for gid, pts in auto.items()}
    assert graded["scores"][sid] == want
    assert float(row["raw_score"]) == sum(auto.values()) - sum(auto[g] for g in failing)
    return row


def check_switched_off(graded: dict, sid: str = "library") -> None:
    """The library calls failed with the grader's 'switched off' message."""
    lab = graded["lab"]
    nb = nbformat.read(graded["root"] / "autograded" / sid / lab / f"{lab}.ipynb", as_version=4)
    for gid in graded["cases"][sid][1]:
        errors = [o.evalue for o in subs.cell(nb, gid).outputs if o.output_type == "error"]
        assert errors and "switched off" in errors[0], (gid, errors)


def check_flagged_for_review(graded: dict, sid: str = "patched") -> None:
    """Every cell whose tools were patched failed, with the grader's verdict in its output."""
    lab = graded["lab"]
    nb = nbformat.read(graded["root"] / "autograded" / sid / lab / f"{lab}.ipynb", as_version=4)
    for gid in graded["cases"][sid][1]:
        errors = [o for o in subs.cell(nb, gid).outputs if o.output_type == "error"]
        assert errors, (gid, "the patched task should fail")


def check_feedback_has_no_hidden_test(graded: dict) -> None:
    html = sorted(graded["feedback"].glob("*.html"))
    assert {p.name.split("__")[0] for p in html} == set(graded["cases"])
    for path in html:
        text = path.read_text()
        for secret in ("HIDDEN TESTS", "_checks", "seal(", "mini_accel-sealed-check", "_reference"):
            assert secret not in text, (path.name, secret)
