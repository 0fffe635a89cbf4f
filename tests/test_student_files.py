"""Nothing a student receives holds an answer.

What a student gets: the ``labs/`` folder, nbgrader's release of every lab
(what the exchange hands out), the student bundle (``course.py bundle``) and,
later, their feedback (checked in tests/test_grading.py and the per-lab
hostile tests). None of it may contain

* a case module of the hidden checks or the checking code (file names);
* a private name of a case module (``_ws_step_reference``, ``_dense_check``...);
* a line of a reference solution that the released notebook does not show
  anyway (the code between ``### BEGIN SOLUTION`` and ``### END SOLUTION``).
"""
from __future__ import annotations

import ast
import re
import zipfile
from pathlib import Path

import nbformat
import pytest
from grading_fixtures import submissions as subs

REPO = subs.REPO
LABS = subs.course_labs()
FORBIDDEN_FILES = re.compile(r"(_checks\.py|labcheck\.py|sealrun\.py|sealed\.py|\.course_secret)$")


def _private_names() -> set[str]:
    """Every private top-level name defined by a lab's case module."""
    names = set()
    for path in (REPO / "grading" / "source").glob("*/*_checks.py"):
        for node in ast.parse(path.read_text()).body:
            targets = []
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                targets = [node.name]
            elif isinstance(node, ast.Assign):
                targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
            names |= {n for n in targets if n.startswith("_") and len(n) > 5}
    return names


def _solution_lines() -> dict[str, set[str]]:
    """{lab: distinctive lines of its reference solutions}: long enough to mean something,
    and not lines the released notebook shows anyway (signatures, given code)."""
    out = {}
    for lab in LABS:
        src = nbformat.read(REPO / "grading" / "source" / lab / f"{lab}.ipynb", as_version=4)
        released = nbformat.read(REPO / "labs" / f"{lab}.ipynb", as_version=4)
        shown = {line.strip() for c in released.cells for line in c.source.splitlines()}
        lines = set()
        for cell in src.cells:
            for block in re.findall(r"### BEGIN SOLUTION(.*?)### END SOLUTION", cell.source, re.S):
                lines |= {line.strip() for line in block.splitlines()
                          if len(line.strip()) >= 30 and not line.strip().startswith("#")}
        out[lab] = lines - shown
    return out


PRIVATE = _private_names()
SOLUTIONS = _solution_lines()


def _leaks(name: str, text: str) -> list[str]:
    if "/mini_accel/" in "/" + name.replace("\\", "/"):
        # The library is open by design (a hidden check switches off the functions that
        # would give a task away), and its own private names (``_trace``, ``_evaluate``)
        # may coincide with a case module's; only grader files must not be in it.
        return []
    found = [f"private name {n}" for n in PRIVATE if re.search(rf"\b{re.escape(n)}\b", text)]
    for lab, lines in SOLUTIONS.items():
        found += [f"solution line of {lab}: {line[:60]}" for line in lines if line in text]
    return [f"{name}: {what}" for what in found]


def _scan_tree(files: dict[str, str]) -> list[str]:
    problems = [f"{name}: a grader's file" for name in files if FORBIDDEN_FILES.search(name)]
    for name, text in files.items():
        problems += _leaks(name, text)
    return problems


def _read_tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text(errors="replace") for p in root.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts}


def test_the_scan_finds_a_planted_leak():
    assert PRIVATE and all(SOLUTIONS.values()), "nothing to look for: the scan would be blind"
    some_name, (_lab, lines) = sorted(PRIVATE)[0], next(iter(SOLUTIONS.items()))
    planted = {"x/lab_checks.py": "", "notes.md": f"see {some_name}", "a.py": f"    {sorted(lines)[0]}\n"}
    assert len(_scan_tree(planted)) == 3


def test_labs_folder_holds_no_answer():
    assert _scan_tree(_read_tree(REPO / "labs")) == []


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    base = tmp_path_factory.mktemp("release")
    root = subs.course_copy(base)
    subs.course(root, "generate", *LABS, "--no-labs")
    return root / "release"


def test_released_labs_hold_no_answer(release):
    files = _read_tree(release)
    assert {Path(name).parts[0] for name in files} == set(LABS)
    assert _scan_tree(files) == []


def test_student_bundle_holds_no_answer_and_no_grader(tmp_path):
    out = tmp_path / "student.zip"
    subs.course(subs.GRADING, "bundle", "--to", str(out))
    with zipfile.ZipFile(out) as zf:
        files = {name: zf.read(name).decode(errors="replace") for name in zf.namelist() if not name.endswith("/")}
    tops = {name.split("/")[1] for name in files}
    assert {"mini_accel", "labs", "course", "pyproject.toml"} <= tops
    assert not tops & {"grading", "tests", ".git"}
    assert _scan_tree(files) == []
