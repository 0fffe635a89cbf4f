"""Grading throughput of a class: submissions per minute for 1 and 2 workers.

The class-sized path of grading/README.md: the gradebook on PostgreSQL (a
throw-away server started here on 127.0.0.1), the class split over worker
processes by ``course.py autograde --workers N``. The same submissions are
graded for each worker count, in a fresh course each time, and the grades
are compared: a run that lost or changed a grade is reported.

    python benchmarks/bench_grading_scale.py                  # 20 students, 1 and 2 workers
    python benchmarks/bench_grading_scale.py --students 50 --workers 1 2 4
"""
from __future__ import annotations

import argparse
import csv
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from grading_fixtures import submissions as subs  # noqa: E402
from grading_fixtures.postgres import postgres_server  # noqa: E402


def grade_class(base: Path, lab: str, ids: list[str], workers: int, db_url: str) -> tuple[dict, float]:
    env = dict(os.environ, MINI_ACCEL_GRADEBOOK_URL=db_url)

    def course(*args):
        return subprocess.run([sys.executable, str(root / "course.py"), "--root", str(root), *args],
                              check=True, capture_output=True, text=True, env=env)

    root = subs.course_copy(base)
    roster = base / "roster.csv"
    roster.write_text("id\n" + "\n".join(ids) + "\n")
    course("students", str(roster))
    course("generate", lab, "--no-labs")
    half = set(list(subs.reference_solutions(root, lab))[::2])
    for i, sid in enumerate(ids):   # 60 % solved, 30 % partly solved, 10 % untouched
        nb = (subs.released(root, lab) if i % 10 == 9 else
              subs.solved(root, lab, only=half) if i % 10 >= 6 else subs.solved(root, lab))
        subs.write(nb, root / "submitted" / sid / lab / f"{lab}.ipynb")
    start = time.perf_counter()
    course("autograde", lab, "--workers", str(workers))
    seconds = time.perf_counter() - start
    course("export", "--to", str(base / "grades.csv"))
    with open(base / "grades.csv", newline="") as fh:
        grades = {r["student_id"]: r["raw_score"] for r in csv.DictReader(fh) if r["assignment"] == lab}
    return grades, seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lab", default="lab2_systolic")
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args(argv)
    ids = [f"s{i:03d}" for i in range(args.students)]
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs; lab {args.lab}, "
          f"{args.students} submissions, gradebook on PostgreSQL")
    baseline = None
    for workers in args.workers:
        with tempfile.TemporaryDirectory() as tmp, postgres_server() as url:
            grades, seconds = grade_class(Path(tmp), args.lab, ids, workers, url)
        same = "" if baseline is None else ("  grades identical to 1st run" if grades == baseline
                                            else "  GRADES DIFFER from 1st run")
        missing = len(ids) - len(grades)
        baseline = baseline or grades
        rate = 60 * len(ids) / seconds
        print(f"{workers} worker(s): {seconds:7.1f} s, {rate:6.1f} submissions/min, "
              f"{rate / workers:5.1f} per worker; load average {os.getloadavg()[0]:.1f}"
              f"{'  MISSING ' + str(missing) if missing else ''}{same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
