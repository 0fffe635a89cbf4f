"""How long autograding takes: one submission, and a class of 50.

Runs the real pipeline on a temporary copy of the course directory
(grading/course.py: students -> generate -> autograde, one student per process
with the wall-clock guard, sealed checks verified outside the kernel) and
prints the numbers. Nothing is asserted; run it on the machine you grade on:

    python benchmarks/bench_grading.py                 # lab2_systolic, 50 students
    python benchmarks/bench_grading.py --lab lab1_networks --students 10

The class is a realistic mix: 60 % reference solutions, 30 % partly solved,
10 % untouched notebooks.
"""
from __future__ import annotations

import argparse
import importlib.util
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from grading_fixtures import submissions as subs  # noqa: E402


def _load_course(root: Path):
    spec = importlib.util.spec_from_file_location("course_bench", root / "course.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lab", default="lab2_systolic")
    parser.add_argument("--students", type=int, default=50)
    args = parser.parse_args(argv)

    print(f"python {platform.python_version()} on {platform.machine()}, "
          f"{__import__('os').cpu_count()} CPUs; lab {args.lab}, {args.students} students")
    with tempfile.TemporaryDirectory() as tmp:
        root = subs.course_copy(Path(tmp))
        roster = Path(tmp) / "roster.csv"
        ids = [f"s{i:03d}" for i in range(args.students)]
        roster.write_text("id\n" + "\n".join(ids) + "\n")
        subs.course(root, "students", str(roster))
        subs.course(root, "generate", args.lab, "--no-labs")
        answers = subs.reference_solutions(root, args.lab)
        half = set(list(answers)[: len(answers) // 2])
        for i, sid in enumerate(ids):
            if i % 10 == 9:
                nb = subs.released(root, args.lab)
            elif i % 10 >= 6:
                nb = subs.solved(root, args.lab, only=half)
            else:
                nb = subs.solved(root, args.lab)
            subs.write(nb, root / "submitted" / sid / args.lab / f"{args.lab}.ipynb")

        # One submission the way an instructor runs it: the command line, start-up included.
        start = time.perf_counter()
        subprocess.run([sys.executable, str(root / "course.py"), "--root", str(root), "autograde",
                        args.lab, "--student", ids[0]], check=True, capture_output=True)
        cli_one = time.perf_counter() - start

        # The class: one command, each student in its own forked process.
        course = _load_course(root)
        times, statuses, kinds = [], {}, {}
        start = time.perf_counter()
        for i, sid in enumerate(ids):
            out = course.autograde_one(root, args.lab, sid)
            times.append(out["seconds"])
            kinds[sid] = ("untouched" if i % 10 == 9 else "partial" if i % 10 >= 6 else "solved")
            statuses[out["status"]] = statuses.get(out["status"], 0) + 1
        total = time.perf_counter() - start
        scores = [float(r["score"]) for r in course.export_rows(root) if r["assignment"] == args.lab]

    print(f"one submission via 'course.py autograde --student' (CLI start-up included): {cli_one:6.2f} s")
    print(f"class of {len(ids)}: total {total:7.1f} s = {total / 60:.1f} min "
          f"({total / len(ids):.2f} s per submission)")
    print(f"per submission: median {statistics.median(times):.2f} s, "
          f"min {min(times):.2f} s, max {max(times):.2f} s")
    print(f"statuses: {statuses}; mean score {statistics.mean(scores):.2f}")
    slow = sorted(zip(times, ids), reverse=True)[:3]
    print("slowest: " + ", ".join(f"{sid} ({kinds[sid]}) {t:.1f} s" for t, sid in slow))
    return 0


if __name__ == "__main__":
    sys.exit(main())
