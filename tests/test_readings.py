"""The course readings: each one runs, is stored clean, and the syllabus lists exactly them.

* Every notebook in course/readings/ executes top to bottom with nbclient
  (a timeout per cell), with no error and nothing written to stderr.
* Every reading is stored without outputs or execution counts, with a
  python3 kernelspec, and has the parts a reading promises: a numbered title,
  a reading time, a "Check your understanding" list and its sources.
* course/README.md (the syllabus) links every reading and nothing else, states
  the time and points of each existing lab exactly as the lab does, and gives
  the same two commands as the top-level README.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
READINGS_DIR = REPO / "course" / "readings"
SYLLABUS = REPO / "course" / "README.md"
READINGS = sorted(READINGS_DIR.glob("*.ipynb"))
LAB_SOURCES = sorted((REPO / "grading" / "source").glob("*/*.ipynb"))
CELL_TIMEOUT_S = 60  # a reading cell takes well under a second; this only stops a hang

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def _ids(paths):
    return [p.name for p in paths]


def _markdown(nb) -> str:
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def test_there_is_a_reading_for_every_chapter():
    # Eight on the course's first six chapters, one each on serving LLMs, mappings and
    # sparsity, training, and cloud deployments.
    assert 8 <= len(READINGS) <= 12, [p.name for p in READINGS]


@pytest.mark.parametrize("path", READINGS, ids=_ids(READINGS))
def test_reading_runs_without_errors(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [(i, o.ename, o.evalue) for i, c in enumerate(nb.cells) if c.cell_type == "code"
              for o in c.outputs if o.output_type == "error"]
    assert errors == [], f"{path.name}: cells raised {errors}"
    stderr = [(i, o.text[:200]) for i, c in enumerate(nb.cells) if c.cell_type == "code"
              for o in c.outputs if o.output_type == "stream" and o.name == "stderr"]
    assert stderr == [], f"{path.name}: cells wrote to stderr (warnings?) {stderr}"
    produced = [c for c in nb.cells if c.cell_type == "code" and c.outputs]
    assert produced, f"{path.name}: no code cell shows anything"


@pytest.mark.parametrize("path", READINGS, ids=_ids(READINGS))
def test_reading_is_stored_without_outputs(path):
    data = json.loads(path.read_text())
    nbformat.validate(nbformat.reads(path.read_text(), as_version=4))
    assert data["metadata"]["kernelspec"]["name"] == "python3"
    assert data["metadata"]["kernelspec"]["language"] == "python"
    for cell in data["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [], f"{path.name}: cell {cell['id']} has outputs"
            assert cell["execution_count"] is None, f"{path.name}: cell {cell['id']} has a count"


@pytest.mark.parametrize("path", READINGS, ids=_ids(READINGS))
def test_reading_has_its_parts(path):
    nb = nbformat.read(path, as_version=4)
    number = int(path.name.split("_", 1)[0])
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith(f"# Reading {number}: "), \
        f"{path.name}: the first cell must be the title '# Reading {number}: ...'"
    text = _markdown(nb)
    minutes = re.search(r"\*\*Reading time:\*\* about (\d+) minutes", text)
    assert minutes and 10 <= int(minutes.group(1)) <= 20, f"{path.name}: reading time 10-20 min"
    assert "## Check your understanding" in text
    questions = re.findall(r"^\d+\. ", text.split("## Check your understanding", 1)[1], re.M)
    assert len(questions) >= 3, f"{path.name}: at least three questions"
    sources = text.split("## Sources", 1)
    assert len(sources) == 2, f"{path.name}: no '## Sources' section"
    assert len(re.findall(r"^\* ", sources[1], re.M)) >= 2, f"{path.name}: list its sources"
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "mini_accel" in code, f"{path.name}: a reading makes its point with mini_accel"


def _syllabus_links():
    return re.findall(r"\]\(readings/([^)\s]+\.ipynb)\)", SYLLABUS.read_text())


def test_syllabus_lists_every_reading_and_only_those():
    linked = _syllabus_links()
    assert len(linked) == len(set(linked)), "a reading is listed twice"
    on_disk = {p.name for p in READINGS}
    assert set(linked) == on_disk, (
        f"listed but missing: {sorted(set(linked) - on_disk)}; "
        f"present but not listed: {sorted(on_disk - set(linked))}")


@pytest.mark.parametrize("path", LAB_SOURCES, ids=_ids(LAB_SOURCES))
def test_syllabus_states_each_labs_own_time_and_points(path):
    text = _markdown(nbformat.read(path, as_version=4))
    minutes = re.search(r"\*\*Estimated time:\*\* (\d+) minutes", text)
    points = re.search(r"(\d+) checked automatically \+ (\d+) graded by hand", text)
    assert minutes and points, f"{path.name} states no time or points"
    rows = [line for line in SYLLABUS.read_text().splitlines() if f"labs/{path.name}" in line]
    assert len(rows) == 1, f"the syllabus has no (or more than one) row for labs/{path.name}"
    assert f"{minutes.group(1)} min (stated in the lab)" in rows[0], (path.name, minutes.group(1))
    assert f"{points.group(1)} auto + {points.group(2)} by hand" in rows[0], (path.name, points.groups())


def _bash_blocks(text):
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", text, re.S)]


def test_syllabus_gives_the_top_level_commands():
    top = _bash_blocks((REPO / "README.md").read_text())
    ours = _bash_blocks(SYLLABUS.read_text())
    assert len(top) >= 2 and ours == top, "course/README.md must repeat the top-level commands verbatim"
