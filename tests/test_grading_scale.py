"""The class-sized path: the gradebook on PostgreSQL, the class split over workers.

A real PostgreSQL server is started on 127.0.0.1 by the test (Debian's
``postgresql`` binaries; skipped when they are absent). The same submissions
are graded twice: once the simple way (one process, SQLite) and once the
class-sized way (two worker processes, gradebook in PostgreSQL through
nbgrader's own ``CourseDirectory.db_url``, set by ``MINI_ACCEL_GRADEBOOK_URL``).
Every student must get exactly the same grade, none may be missing, and the
grades must really live in PostgreSQL.
"""
from __future__ import annotations

import csv
import os
import subprocess
import time
from pathlib import Path

import pytest

from grading_fixtures import postgres as pg_fixture
from grading_fixtures import submissions as subs

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
