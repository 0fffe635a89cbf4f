"""The class-sized path: the gradebook on PostgreSQL, the class split over workers.

A real PostgreSQL server is started on 127.0.0.1 by the test (Debian's
``postgresql`` binaries; skipped when they are absent). The same submissions
are graded twice: once the simple way (one process, SQLite) and once the
class-sized way (two worker processes, gradebook in PostgreSQL through
nbgrader's own ``CourseDirectory.db_url``, set by ``MINI_ACCEL_GRADEBOOK_URL``).
Every student must get exactly the same grade, none may be missing, and the
grades must really live in PostgreSQL.

Then the two things a class graded on several machines runs into, on a small
lab (``hub_fixtures/tinylab.py``): two graders with separate copies of the
course grading disjoint halves of the class into one gradebook, and a worker
killed (SIGKILL) in the middle of a student. Both must end with the gradebook
of an uninterrupted run: one submission per student, one grade per graded
cell, the same scores.
"""
from __future__ import annotations

import csv
import json
import os
import subprocess
import time
from pathlib import Path

import nbformat
import pytest
from grading_fixtures import postgres as pg_fixture
from grading_fixtures import submissions as subs
from hub_fixtures import tinylab

LAB = "lab2_systolic"
#: (student id, answers filled in: None = all reference answers)
CLASS = [("s01", None), ("s02", {"max_safe_terms", "ws_step"}), ("s03", None),
         ("s04", set()), ("s05", {"ws_cycles", "utilization", "tiled_matmul"}), ("s06", None)]


@pytest.fixture(scope="module")
def postgres():
    """A throw-away PostgreSQL server on loopback; yields its SQLAlchemy URL."""
    if pg_fixture.server_binaries() is None:
        pytest.skip("PostgreSQL server binaries not found (apt-get install postgresql)")
    pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'psycopg[binary]')")
    with pg_fixture.postgres_server() as url:
        yield url


def _course_with_class(base: Path, env: dict) -> Path:
    root = subs.course_copy(base)
    roster = subs.write_roster(base / "roster.csv", [sid for sid, _ in CLASS])
    run = lambda *args: subprocess.run(  # noqa: E731
        [subs.PYTHON, str(root / "course.py"), "--root", str(root), *args],
        check=True, capture_output=True, text=True, env=env, timeout=900)
    run("students", str(roster))
    run("generate", LAB, "--no-labs")
    inbox = base / "inbox"
    for sid, only in CLASS:
        subs.write(subs.solved(root, LAB, only=only), inbox / f"{sid}_{LAB}.ipynb")
    run("collect", LAB, str(inbox))
    return root


def _grade(root: Path, env: dict, workers: int) -> tuple[dict, float]:
    start = time.monotonic()
    subprocess.run([subs.PYTHON, str(root / "course.py"), "--root", str(root), "autograde", LAB,
                    "--workers", str(workers)], check=True, capture_output=True, env=env, timeout=900)
    seconds = time.monotonic() - start
    out = root.parent / f"grades-{workers}.csv"
    subprocess.run([subs.PYTHON, str(root / "course.py"), "--root", str(root), "export", "--to", str(out)],
                   check=True, capture_output=True, env=env, timeout=300)
    with open(out, newline="") as fh:
        rows = {r["student_id"]: (float(r["raw_score"]), r["status"]) for r in csv.DictReader(fh)
                if r["assignment"] == LAB}
    return rows, seconds


def test_two_workers_on_postgres_grade_exactly_like_one_on_sqlite(tmp_path, postgres):
    plain_env = {k: v for k, v in os.environ.items() if k != "MINI_ACCEL_GRADEBOOK_URL"}
    sqlite_root = _course_with_class(tmp_path / "sqlite", plain_env)
    baseline, _ = _grade(sqlite_root, plain_env, workers=1)
    assert (sqlite_root / "gradebook.db").exists()

    pg_env = dict(plain_env, MINI_ACCEL_GRADEBOOK_URL=postgres)
    pg_root = _course_with_class(tmp_path / "postgres", pg_env)
    grades, _ = _grade(pg_root, pg_env, workers=2)

    assert sorted(grades) == sorted(sid for sid, _ in CLASS), "a student is missing"
    assert grades == baseline
    assert all(status == "graded" for _, status in grades.values())
    scores = sorted(score for score, _ in grades.values())
    assert scores[0] == 0.0 and scores[-1] > scores[1] > 0.0   # blank, partial and full marks
    # The grades live in PostgreSQL, not in a stray SQLite file.
    assert not (pg_root / "gradebook.db").exists()
    import sqlalchemy as sa

    engine = sa.create_engine(postgres)
    with engine.connect() as conn:
        n = conn.execute(sa.text("select count(*) from submitted_assignment")).scalar()
    engine.dispose()
    assert n == len(CLASS)


# --------------------------------------------------------------------------- #
# Several graders, and a worker that dies: the small lab of the hub test
# (hub_fixtures/tinylab.py) grades in seconds, so a class of four is cheap.
# --------------------------------------------------------------------------- #
SMALL_CLASS = {"t1": None, "t2": {"squares"}, "t3": set(), "t4": {"energy_pj"}}


def _small_course(base: Path, env: dict, ids) -> Path:
    """A course copy with the small lab and the submissions of ``ids`` (of SMALL_CLASS)."""
    root = subs.course_copy(base)
    tinylab.write_source(root)
    _run(root, env, "students", str(subs.write_roster(base / "roster.csv", list(SMALL_CLASS))))
    _run(root, env, "generate", tinylab.LAB, "--no-labs")
    released = json.loads((root / "release" / tinylab.LAB / f"{tinylab.LAB}.ipynb").read_text())
    for sid in ids:
        subs.write(tinylab.answered(released, SMALL_CLASS[sid]),
                   root / "submitted" / sid / tinylab.LAB / f"{tinylab.LAB}.ipynb")
    return root


def _run(root: Path, env: dict, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([subs.PYTHON, str(root / "course.py"), "--root", str(root), *args],
                          capture_output=True, text=True, env=env, timeout=900)
    if check:
        assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done


def _snapshot(db_url: str) -> dict:
    """Every grade of the small lab in the gradebook: {student: {cell: auto_score}}, after
    checking that each student has exactly one submission holding one grade per graded cell."""
    import sqlalchemy as sa
    from nbgrader.api import Gradebook

    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        per_student = dict(conn.execute(sa.text(
            "select s.student_id, count(*) from submitted_assignment s join assignment a "
            "on a.id = s.assignment_id where a.name = :lab group by s.student_id"), {"lab": tinylab.LAB}).all())
    engine.dispose()
    assert per_student == {sid: 1 for sid in SMALL_CLASS}, f"submissions per student: {per_student}"
    out = {}
    with Gradebook(db_url, "mini_accel") as gb:
        for sid in SMALL_CLASS:
            (notebook,) = gb.find_submission(tinylab.LAB, sid).notebooks
            grades = {g.name: g.auto_score for g in notebook.grades}
            assert sorted(grades) == sorted(tinylab.POINTS), f"{sid}: grades of {sorted(grades)}"
            out[sid] = grades
    return out


def _expected() -> dict:
    return {sid: {cell: float(pts if cell.removeprefix("test_") in (set(tinylab.ANSWERS) if only is None
                                                                   else only) else 0)
                  for cell, pts in tinylab.POINTS.items()}
            for sid, only in SMALL_CLASS.items()}


@pytest.fixture(scope="module")
def uninterrupted(postgres, tmp_path_factory):
    """The small class graded once, without incident, by two workers on PostgreSQL."""
    env = dict(os.environ, MINI_ACCEL_GRADEBOOK_URL=pg_fixture.new_database(postgres, "uninterrupted"))
    root = _small_course(tmp_path_factory.mktemp("uninterrupted"), env, SMALL_CLASS)
    _run(root, env, "autograde", tinylab.LAB, "--workers", "2")
    grades = _snapshot(env["MINI_ACCEL_GRADEBOOK_URL"])
    assert grades == _expected()
    return grades


def test_two_graders_on_two_course_copies_share_one_gradebook(tmp_path, postgres, uninterrupted):
    """Two machines, each with its own copy of the course and half of the class's
    submissions, grade at the same time into one PostgreSQL gradebook."""
    env = dict(os.environ, MINI_ACCEL_GRADEBOOK_URL=pg_fixture.new_database(postgres, "two_graders"))
    ids = sorted(SMALL_CLASS)
    roots = [_small_course(tmp_path / "machine-a", env, ids[0::2]),
             _small_course(tmp_path / "machine-b", env, ids[1::2])]
    graders = [subprocess.Popen([subs.PYTHON, str(root / "course.py"), "--root", str(root), "autograde",
                                 tinylab.LAB], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True) for root in roots]
    outputs = [g.communicate(timeout=900)[0] for g in graders]
    assert [g.returncode for g in graders] == [0, 0], outputs
    assert _snapshot(env["MINI_ACCEL_GRADEBOOK_URL"]) == uninterrupted
    # Either machine's export shows the whole class, graded by both.
    for root in roots:
        _run(root, env, "export", "--to", str(root / "grades.csv"))
        with open(root / "grades.csv", newline="") as fh:
            rows = {r["student_id"]: float(r["raw_score"]) for r in csv.DictReader(fh)
                    if r["assignment"] == tinylab.LAB}
        assert rows == {sid: sum(uninterrupted[sid].values()) for sid in SMALL_CLASS}


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_killed_worker_loses_no_grade(tmp_path, postgres, uninterrupted):
    """SIGKILL one of two workers while it grades a student; after the command ends
    (non-zero: a worker died) and a plain re-run, the gradebook equals the uninterrupted run."""
    import psutil

    env = dict(os.environ, MINI_ACCEL_GRADEBOOK_URL=pg_fixture.new_database(postgres, "killed_worker"))
    root = _small_course(tmp_path, env, SMALL_CLASS)
    main = subprocess.Popen([subs.PYTHON, str(root / "course.py"), "--root", str(root), "autograde",
                             tinylab.LAB, "--workers", "2"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    notes = root / "grading_notes.json"

    def graded_count():
        data = json.loads(notes.read_text()) if notes.exists() else {}
        return sum(1 for e in data.get(tinylab.LAB, {}).values() if "autograde" in e)

    def busy_worker():
        # A worker is a child process of the command; "busy" = it has a grading process of its own.
        if graded_count() < 1:
            return None
        for worker in psutil.Process(main.pid).children():
            if worker.children():
                return worker
        return None

    try:
        victim = _wait_for(busy_worker, 600, "a worker in the middle of a student, after a first grade")
        victim.kill()
        output = main.communicate(timeout=900)[0]
    finally:
        if main.poll() is None:
            main.kill()
    assert main.returncode != 0, f"the command must say that a worker died:\n{output}"

    rerun = _run(root, env, "autograde", tinylab.LAB, "--workers", "2")
    assert _snapshot(env["MINI_ACCEL_GRADEBOOK_URL"]) == uninterrupted, rerun.stdout
    for sid in SMALL_CLASS:    # every autograded notebook is whole
        nbformat.read(root / "autograded" / sid / tinylab.LAB / f"{tinylab.LAB}.ipynb", as_version=4)
    _run(root, env, "export", "--to", str(root / "grades.csv"))
    with open(root / "grades.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["assignment"] == tinylab.LAB]
    assert sorted(r["student_id"] for r in rows) == sorted(SMALL_CLASS)
    assert all(r["status"] == "graded" for r in rows), rows
