"""The lab notebooks: the sources run clean, and the committed student notebooks are up to date.

* Every source notebook (grading/source/<lab>/<lab>.ipynb) executes top to
  bottom with nbclient: its reference solutions pass its own visible and
  hidden tests, and no cell raises.
* labs/ holds exactly what ``python grading/course.py generate`` makes from
  the sources (regenerated here into a temporary copy and compared), and the
  checking code has one committed copy.
* Every committed notebook is stored without outputs and execution counts.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import nbformat
import pytest
from grading_fixtures import submissions as subs
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
GRADING = REPO / "grading"
LABS_DIR = REPO / "labs"
LABS = subs.course_labs()

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:.*not in session.*"),
]


def test_the_course_has_labs():
    assert {"lab1_networks", "lab2_systolic"} <= set(LABS) or os.environ.get("MINI_ACCEL_LABS")


@pytest.mark.parametrize("lab", LABS)
def test_source_notebook_runs_and_its_tests_pass(lab, tmp_path):
    src = GRADING / "source" / lab
    work = tmp_path / lab
    shutil.copytree(src, work, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    for name in ("labcheck.py", "sealrun.py"):     # what course.py places next to each source
        shutil.copyfile(GRADING / name, work / name)
    nb = nbformat.read(work / f"{lab}.ipynb", as_version=4)
    start = time.monotonic()
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(work)}}).execute()
    seconds = time.monotonic() - start
    errors = [(c.metadata.get("nbgrader", {}).get("grade_id", c.get("id")), o.ename, o.evalue)
              for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == [], errors
    # nbgrader scores a test cell 0 if it writes to stderr or leaves a value (read as partial credit).
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and cell.cell_type == "code":
            kinds = {(o.output_type, o.get("name")) for o in cell.outputs}
            assert ("stream", "stderr") not in kinds, (meta["grade_id"], "writes to stderr")
            assert not any(k == "execute_result" for k, _ in kinds), (meta["grade_id"], "leaves a value")
            assert "seal(" in cell.source, (meta["grade_id"], "graded test without a sealed hidden check")
    assert seconds < 60, f"{lab} took {seconds:.0f} s; a lab must run top to bottom in under a minute"


@pytest.mark.parametrize("lab", LABS)
def test_source_notebook_is_well_formed(lab):
    nb = nbformat.read(GRADING / "source" / lab / f"{lab}.ipynb", as_version=4)
    nbformat.validate(nb)
    meta = [c.metadata.get("nbgrader", {}) for c in nb.cells]
    auto = [m for m in meta if m.get("grade") and not m.get("solution")]
    manual = [m for m in meta if m.get("grade") and m.get("solution")]
    assert 4 <= len({m["grade_id"].removeprefix("test_").split("_edges")[0] for m in auto}) <= 8
    assert manual, "at least one written answer graded by hand"
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "Learning goals" in text and "Estimated time" in text
    assert re.search(r"\d+ checked automatically \+ \d+ graded by hand", text)
    total_auto = sum(m["points"] for m in auto)
    assert f"{total_auto:g} checked automatically" in text, "the points in the header are out of date"
    assert "ipywidgets" in "\n".join(c.source for c in nb.cells) or "widget(" in "\n".join(
        c.source for c in nb.cells), "at least one widget"
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution") and cell.cell_type == "code":
            assert "### BEGIN SOLUTION" in cell.source, cell.metadata["nbgrader"]["grade_id"]


def _committed_notebooks():
    return sorted(set(GRADING.rglob("*.ipynb")) | set(LABS_DIR.rglob("*.ipynb")))


@pytest.mark.parametrize("path", _committed_notebooks(), ids=lambda p: str(p.relative_to(REPO)))
def test_committed_notebook_has_no_outputs(path):
    if any(part in ("release", "submitted", "autograded", "feedback", ".ipynb_checkpoints")
           for part in path.relative_to(REPO).parts):
        pytest.skip("instructor working copy, not committed")
    data = json.loads(path.read_text())
    for cell in data["cells"]:
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"{path.name}: cell {cell.get('id')} has outputs"
            assert cell.get("execution_count") is None, f"{path.name}: cell {cell.get('id')} has a count"


def test_no_committed_copy_of_the_checking_code():
    """labcheck.py and sealrun.py have one master copy each, in grading/ (course.py places
    uncommitted copies next to the sources; students get none)."""
    import subprocess

    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True).stdout.split()
    if not tracked:
        pytest.skip("not a git checkout")
    copies = [p for p in tracked if Path(p).name in ("labcheck.py", "sealrun.py")]
    assert sorted(copies) == ["grading/labcheck.py", "grading/sealrun.py"], copies


def test_student_notebooks_are_up_to_date(tmp_path):
    """Regenerate labs/ from the sources with nbgrader and compare with the committed files."""
    root = subs.course_copy(tmp_path)
    fresh = tmp_path / "labs"
    subs.course(root, "generate", "--labs-dir", str(fresh))
    committed = {p.name for p in LABS_DIR.iterdir() if p.is_file() and p.name not in ("README.md", "start_lab.py")}
    generated = {p.name for p in fresh.iterdir() if p.is_file()}
    assert committed == generated, "labs/ has missing or extra files: run python grading/course.py generate"
    for name in sorted(generated):
        assert (fresh / name).read_bytes() == (LABS_DIR / name).read_bytes(), \
            f"labs/{name} drifted from its source: run python grading/course.py generate"


@pytest.mark.parametrize("lab", LABS)
def test_student_notebook_hides_solutions_and_hidden_tests(lab):
    nb = nbformat.read(LABS_DIR / f"{lab}.ipynb", as_version=4)
    text = "\n".join(c.source for c in nb.cells)
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text and "seal(" not in text
    assert "Model answer" not in text
    stubs = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code"]
    assert stubs and all("raise NotImplementedError()" in c.source for c in stubs)
