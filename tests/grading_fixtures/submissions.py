"""Build student submissions from the released notebook: solved, partial and hostile ones.

Every submission starts from ``release/<lab>/<lab>.ipynb`` (what a student
downloads) and changes it the way a student would: filling answer cells,
editing or deleting cells, or attacking the tests.
"""
from __future__ import annotations

import csv
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[2]
GRADING = REPO / "grading"
PYTHON = sys.executable
_COURSE_FILES = ("nbgrader_config.py", "course.py", "plugins.py", "sealed.py", "sandbox.py", "labcheck.py",
                 "sealrun.py")


def course_labs() -> list[str]:
    """The labs in grading/source, or only those named in MINI_ACCEL_LABS (comma-separated),
    so that one lab's author can run its grading tests without grading every lab."""
    import os

    labs = sorted(p.name for p in (GRADING / "source").iterdir() if (p / f"{p.name}.ipynb").exists())
    wanted = [w for w in os.environ.get("MINI_ACCEL_LABS", "").split(",") if w]
    return [lab for lab in labs if lab in wanted] if wanted else labs


def course_copy(dest: Path) -> Path:
    """A fresh course directory (config, commands, sources) under ``dest``; returns its root."""
    root = Path(dest) / "grading"
    root.mkdir(parents=True)
    for name in _COURSE_FILES:
        shutil.copyfile(GRADING / name, root / name)
    shutil.copytree(GRADING / "source", root / "source",
                    ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    return root


def write_roster(path: Path, ids) -> Path:
    """The students CSV an instructor gives ``course.py students``: one row per id."""
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "first_name", "last_name", "email"])
        for sid in ids:
            writer.writerow([sid, sid.title(), "Student", f"{sid}@example.org"])
    return path


def course(root: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run ``python grading/course.py --root ROOT ARGS`` exactly as an instructor would."""
    return subprocess.run([PYTHON, str(root / "course.py"), "--root", str(root), *args],
                          capture_output=True, text=True, timeout=timeout, check=True)


def _grade_id(cell):
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def released(root: Path, lab: str):
    return nbformat.read(root / "release" / lab / f"{lab}.ipynb", as_version=4)


def reference_solutions(root: Path, lab: str) -> dict:
    """{grade_id: source} of the answer cells of the source notebook, markers removed."""
    src = nbformat.read(root / "source" / lab / f"{lab}.ipynb", as_version=4)
    out = {}
    for cell in src.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            out[_grade_id(cell)] = re.sub(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n", "", cell.source, flags=re.M)
    return out


def fill(nb, answers: dict):
    """Put ``answers`` ({grade_id: source}) into the notebook's answer cells."""
    for cell in nb.cells:
        if _grade_id(cell) in answers:
            cell.source = answers[_grade_id(cell)]
    return nb


def solved(root: Path, lab: str, only=None, **overrides):
    """The released notebook with reference answers (all, or those in ``only``) and overrides."""
    answers = reference_solutions(root, lab)
    if only is not None:
        answers = {k: v for k, v in answers.items() if k in only}
    answers.update(overrides)
    return fill(released(root, lab), answers)


def cell(nb, grade_id):
    return next(c for c in nb.cells if _grade_id(c) == grade_id)


def write(nb, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


# --------------------------------------------------------------------------- #
# Lab 2 answers used by the hostile cases
# --------------------------------------------------------------------------- #
RAISES = '''def ws_step(W, a_regs, psum_regs, a_in):
    raise ValueError("I gave up on the skew")
'''

INFINITE_LOOP = '''def utilization(M, K, N, rows, cols, cycles):
    while True:
        pass
'''

SWALLOWS_INTERRUPT = '''def utilization(M, K, N, rows, cols, cycles):
    while True:
        try:
            while True:
                pass
        except BaseException:   # swallows the grader's KeyboardInterrupt
            pass
'''

# The same, printing all the while: output keeps arriving, so nbclient never gives up on
# its own and would wait one cell timeout per remaining cell. Only the wall clock stops it.
SWALLOWS_INTERRUPT_NOISY = '''import time
def utilization(M, K, N, rows, cols, cycles):
    while True:
        try:
            print("still working", flush=True)
            time.sleep(0.05)
        except BaseException:
            pass
'''

WRONG_CYCLES = '''def ws_cycles(M, K, N, rows, cols):
    folds = -(-K // rows) * -(-N // cols)
    return folds * (2 * rows + cols + M - 1)     # off by one per fold
'''

WRONG_UTILIZATION = '''def utilization(M, K, N, rows, cols, cycles):
    return M * K * N / (rows * cols * cycles) / 2
'''

WRONG_TILED = '''def tiled_matmul(A, B, rows, cols):
    res = SystolicArray(rows, cols).matmul(A[:, :rows], B[:rows, :])
    return res.output, res.cycles
'''

# Passes the visible asserts by special-casing the visible inputs, and patches
# numpy's comparison and testing functions, builtins and the kernel's half of the
# sealed checks (so that it prints no result, or a forged one), so that no check in
# the kernel can fail. Only the grader's verdict, given outside the kernel, decides.
PATCH_TESTING_TOOLS = '''import builtins, numpy, numpy.testing
try:
    import sealrun
    sealrun.seal = lambda *a, **k: print(sealrun.make_record(a[0] if a else "x", [1]))
except ImportError:
    pass
numpy.allclose = lambda *a, **k: True
numpy.array_equal = lambda *a, **k: True
numpy.isclose = lambda a, b, *r, **k: numpy.ones(numpy.shape(a), bool)
for _name in dir(numpy.testing):
    if _name.startswith("assert_"):
        setattr(numpy.testing, _name, lambda *a, **k: None)
builtins.all = lambda *a, **k: True
builtins.abs = lambda x: 0
'''

MONKEYPATCH_TOOLS = PATCH_TESTING_TOOLS + '''
def max_safe_terms(a_bits, w_bits, acc_bits):
    return {(8, 8, 32): 131071, (2, 2, 4): 1}.get((a_bits, w_bits, acc_bits), 7)
'''

FAKE_WS_CYCLES = '''def ws_cycles(M, K, N, rows, cols):
    visible = {(5, 4, 4, 4, 4): 15, (1, 8, 8, 8, 8): 23, (10, 9, 5, 4, 4): 120, (7, 3, 20, 2, 6): 120,
               (6, 10, 7, 4, 4): 96}
    return visible.get((M, K, N, rows, cols), 1)
'''

# Looks everywhere a grader's files could be (above the notebook, the whole file
# system) for the instructor's source notebook and the checks' reference code, and
# runs whatever answer it finds; prints FOUND for each. In the sandbox there is none.
COPY_ANSWERS = '''import json, os
_found = []
for _top in ["../../..", *("/" + d for d in os.listdir("/") if d not in ("proc", "sys", "dev", "usr"))]:
    for _dir, _subdirs, _files in os.walk(_top):
        _subdirs[:] = [d for d in _subdirs if d not in ("site-packages", "node_modules", ".git")]
        _found += [os.path.join(_dir, f) for f in _files
                   if f.endswith(("_checks.py", "gradebook.db")) or (f.endswith(".ipynb") and "source" in _dir)]
for _path in _found:
    try:
        _text = open(_path, errors="replace").read()
    except OSError:
        continue
    if "BEGIN SOLUTION" in _text or "_reference" in _text or _path.endswith("gradebook.db"):
        print("FOUND", _path)
    if _path.endswith(".ipynb") and "BEGIN SOLUTION" in _text:
        for _cell in json.loads(_text)["cells"]:
            if "BEGIN SOLUTION" in "".join(_cell["source"]):
                exec("".join(_cell["source"]))
import importlib
try:
    _checks = importlib.import_module("lab2_systolic_checks")
    for _name in dir(_checks):
        if _name.endswith("_reference"):
            print("FOUND", _name)
            globals()[_name[1:].replace("_reference", "")] = getattr(_checks, _name)
except Exception as _exc:
    print("no checks:", type(_exc).__name__)
'''

CALLS_LIBRARY = '''def ws_cycles(M, K, N, rows, cols):
    return systolic_cycles(M, K, N, rows, cols, "ws")
'''
