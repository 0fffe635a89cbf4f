"""A tiny graded lab for the hub test, written into a course copy's ``source/``.

The course's own labs take tens of seconds per grading; the hub test is about
the exchange, the users and the browser, so it grades a two-task lab in the
course's own format (solution cells, visible and hidden tests, points) that
grades in a few seconds. It is generated at test time and never lives in
``grading/source/`` (the notebook tests would pick it up as a course lab).
"""
from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

LAB = "hub_lab"
#: {grade_id: points} of the graded test cells.
POINTS = {"test_squares": 2, "test_energy_pj": 3}
#: What the students are asked to fill in: {grade_id of the answer cell: reference answer}.
ANSWERS = {
    "squares": "def squares(n):\n    return [i * i for i in range(n)]\n",
    "energy_pj": "def energy_pj(macs, pj_per_mac):\n    return macs * pj_per_mac\n",
}
#: Text that appears only in the hidden tests: it must never reach a student.
HIDDEN_MARKER = "hidden-check-7f3a"


def _meta(grade_id: str, *, solution=False, grade=False, locked=False, points=None) -> dict:
    meta = {"grade_id": grade_id, "solution": solution, "grade": grade, "locked": locked,
            "schema_version": 3}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


#: (answer cell, task text, visible test, hidden tests) of each task.
TASKS = [
    ("squares", "Write `squares(n)`: the list of the squares of 0 .. n-1.",
     'assert squares(3) == [0, 1, 4], "squares(3) should be [0, 1, 4]"',
     'assert squares(0) == [], "squares(0) should be an empty list"\n'
     'assert squares(6)[-1] == 25, "the last of squares(6) should be 25"'),
    ("energy_pj", "Write `energy_pj(macs, pj_per_mac)`: the energy of `macs` MACs in pJ.",
     'assert energy_pj(10, 0.5) == 5.0, "10 MACs at 0.5 pJ each cost 5 pJ"',
     'assert energy_pj(0, 3.7) == 0, "no MACs should cost no energy"\n'
     'assert abs(energy_pj(1e6, 4.6) - 4.6e6) < 1e-3, "1e6 MACs at 4.6 pJ"'),
]


def write_source(root: Path) -> Path:
    """Write ``source/hub_lab/hub_lab.ipynb`` under the course directory ``root``; return its path."""
    cells = [new_markdown_cell("# Hub lab\nTwo small functions, graded by nbgrader.",
                               metadata=_meta("intro", locked=True))]
    for gid, text, visible, hidden in TASKS:
        cells += [
            new_markdown_cell(text),
            new_code_cell(f"### BEGIN SOLUTION\n{ANSWERS[gid]}### END SOLUTION", metadata=_meta(gid, solution=True)),
            new_code_cell(f"{visible}\n### BEGIN HIDDEN TESTS\n# {HIDDEN_MARKER}\n{hidden}\n### END HIDDEN TESTS",
                          metadata=_meta(f"test_{gid}", grade=True, locked=True, points=POINTS[f"test_{gid}"])),
        ]
    nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                            "language": "python"}})
    path = Path(root) / "source" / LAB / f"{LAB}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def answered(released: dict, only: set[str] | None = None) -> dict:
    """The released notebook (as JSON) with the reference answers of ``only`` (None: all) filled in."""
    nb = nbformat.from_dict(released)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in ANSWERS and (only is None or gid in only):
            cell.source = ANSWERS[gid]
    return nb


def expected_score(only: set[str] | None) -> float:
    """Points earned by a submission that answers ``only`` (None: all) with the reference answers."""
    done = set(ANSWERS) if only is None else only
    return float(sum(p for gid, p in POINTS.items() if gid.removeprefix("test_") in done))
