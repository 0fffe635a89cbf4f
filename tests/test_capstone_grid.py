"""The capstone (Lab 9) needs a design search: no single change passes, a local search does.

The grid is :data:`mini_accel.design.DESIGN_GRID` (every free parameter of a
design and the values the lab's explorer offers; clock, DRAM bandwidth and SRAM
efficiency are fixed by the challenge's rules). A track is *passed* when the
grader's own verdict, ``_judge`` of ``grading/source/lab9_design/lab9_design_checks.py``
with the score required, accepts the design: rules, budget and target.

* Every single change of each reference design (each grid parameter set to each
  of its other values, one at a time) fails its track, and so do the values
  halfway (x1.5) between the grid's numeric points.
* The search the lab teaches (hill climbing: evaluate every single change, move
  to the best that meets the budget, stop when none helps or the target is met)
  passes both tracks from the references within a few steps; the evaluation
  counts are asserted, the time is measured in ``benchmarks/bench_design.py``.
* The notebook's ``CHALLENGES`` (what the student sees) match the grader's.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from mini_accel.design import (
    DESIGN_GRID,
    Design,
    evaluate,
    reference_budget,
    reference_design,
    reference_workload,
    score,
    single_changes,
)

REPO = Path(__file__).resolve().parents[1]
LAB_DIR = REPO / "grading" / "source" / "lab9_design"
TRACKS = ("edge", "server")
#: The objective the search minimises on each track (the figure of merit's summary key).
OBJECTIVE = {"edge": "energy_per_inference_j", "server": "usd_per_million_inferences"}


@pytest.fixture(scope="module")
def checks():
    for path in (LAB_DIR, REPO / "grading"):      # labcheck.py: next to the lab, or the master copy
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    import lab9_design_checks
    return lab9_design_checks


def _fields(design: Design) -> dict:
    return {name: getattr(design, name) for name in Design.__dataclass_fields__}


def _passes(checks, track, design) -> bool:
    return checks._judge(track, _fields(design), True) is None


def _between_grid_points(design):
    """Single changes to values halfway (x1.5) between the numeric grid points."""
    for param in ("rows", "cols", "input_buffer_bytes", "weight_buffer_bytes", "output_buffer_bytes"):
        values = DESIGN_GRID[param]
        for value in (v * 3 // 2 for v in values[:-1]):
            try:
                yield param, value, design.replace(**{param: value})
            except ValueError:
                continue


@pytest.mark.parametrize("track", TRACKS)
def test_no_single_change_of_the_reference_passes(checks, track):
    ref = reference_design(track)
    assert not _passes(checks, track, ref)
    moves = list(single_changes(ref)) + list(_between_grid_points(ref))
    assert len(moves) > 80                  # the whole grid was tried, not an empty generator
    passing = [(param, value) for param, value, d in moves if _passes(checks, track, d)]
    assert passing == [], f"{track}: single changes that pass the track: {passing}"


def local_search(checks, start: Design, track: str, grid=DESIGN_GRID, max_steps: int = 20):
    """Hill climbing as Lab 9 teaches it; returns (design, steps, evaluations)."""
    workload, limits = reference_workload(track), reference_budget(track).limits()
    key, rules = OBJECTIVE[track], checks.CHALLENGES[track]
    ref_ev = evaluate(reference_design(track), *workload)
    current, evaluations = start, 1
    value = evaluate(current, *workload).summary()[key]
    steps = []
    for _ in range(max_steps):
        best = None
        for param, new_value, d in single_changes(current, grid):
            s = evaluate(d, *workload).summary()
            evaluations += 1
            meets = all((s[name[4:]] <= limit) if name.startswith("max_") else (s[name[4:]] >= limit)
                        for name, limit in limits.items())
            if meets and (best is None or s[key] < best[0]):
                best = (s[key], param, new_value, d)
        if best is None or best[0] >= value:
            break                           # a local optimum
        value, param, new_value, current = best
        gain = score(evaluate(current, *workload), ref_ev)[rules["metric"]]
        steps.append((param, new_value, round(gain, 3)))
        if gain >= rules["target"]:
            break
    return current, steps, evaluations


@pytest.mark.parametrize("track, max_steps", [("edge", 2), ("server", 3)])
def test_the_taught_search_passes_each_track_in_a_few_steps(checks, track, max_steps):
    design, steps, evaluations = local_search(checks, reference_design(track), track)
    assert _passes(checks, track, design), f"{track}: the search stopped at {steps}"
    # Each step is one sweep of about 50 single changes: a few seconds per track.
    assert len(steps) <= max_steps and evaluations <= 60 * max_steps + 1, (steps, evaluations)
    # ... and it needs more than one step, which is the point of the search.
    assert len(steps) >= 2


def test_the_notebook_states_the_grader_s_targets(checks):
    nb = json.loads((LAB_DIR / "lab9_design.ipynb").read_text(encoding="utf-8"))
    cell = next(c for c in nb["cells"]
                if c["metadata"].get("nbgrader", {}).get("grade_id") == "challenges")
    namespace: dict = {"refs": {}}
    exec("".join(cell["source"]).split("\ndef judge")[0], namespace)
    for track in TRACKS:
        shown, graded = namespace["CHALLENGES"][track], checks.CHALLENGES[track]
        for key in ("clock_hz", "dram_bandwidth", "metric", "target"):
            assert shown[key] == graded[key], (track, key)
        assert shown["objective"] == OBJECTIVE[track]
