"""Lab 9 (design challenge) through the real nbgrader pipeline: three hostile submissions.

A temporary course grades three students exactly as an instructor would
(``grading/course.py``: students, generate, collect, autograde, export):

* ``library``: ``design_area_mm2`` takes the array's area from ``Design.area_breakdown``
  and ``adc`` calls ``mini_accel.analog``'s private rounding, the library's
  answers to two implement-it tasks. The visible tests pass; the hidden checks
  switch those functions off, so exactly these two tasks score 0.
* ``patched``: the first answer cell patches numpy's comparisons,
  ``numpy.testing``, ``builtins.abs``/``all`` and the kernel's half of the
  sealed checks (``sealrun.seal`` prints a forged record), then
  ``best_feasible`` special-cases the visible limits and
  ``analog_error_std`` returns a constant. The visible tests pass in the
  student's kernel; the grader, judging the records in its own process, finds
  no valid result for any sealed case: every automatic point is lost.
* ``one_change``: the capstone answered with one parameter change per track
  (the 1 MiB input buffer that was enough before; output-stationary for the
  server), after lowering the targets in the notebook's ``CHALLENGES`` so
  that the visible tests pass. Both designs meet their budgets (3 + 3 points)
  and miss the grader's targets: the two score cells give 0.

Expected scores are the points of the cells a fair grader would accept, read
from the source notebook's metadata. The reference, blank and partial
submissions of every lab are in ``tests/test_grading_labs.py``.
"""

from __future__ import annotations

import pytest

from grading_fixtures import hostile

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:.*not in session.*"),
    pytest.mark.filterwarnings("ignore::nbformat.warnings.MissingIDFieldWarning"),
]

LAB = "lab9_design"

CALLS_LIBRARY_AREA = '''def design_area_mm2(rows, cols, precision, buffer_bytes):
    sram = buffer_bytes * 8 * sram_um2_per_bit() / 1e6
    if rows * cols == 0:
        return sram
    return refs["edge"].replace(rows=rows, cols=cols, precision=precision).area_breakdown()["mac_array"] + sram
'''

CALLS_LIBRARY_ADC = '''def adc(y, bits, full_scale):
    from mini_accel.analog import _quantize
    return _quantize(np.asarray(y, dtype=float), 2.0 * full_scale / (2 ** bits - 2), full_scale)
'''

# A correct design_area_mm2, preceded by patches that make every check in the kernel pass.
PATCH_TOOLS = hostile.PATCH_TESTING_TOOLS + '''
def design_area_mm2(rows, cols, precision, buffer_bytes):
    return (rows * cols * mac_cost(precision).area_um2 + buffer_bytes * 8 * sram_um2_per_bit()) / 1e6
'''

# Answers the visible test's limits by their shape, whatever the summaries.
FAKE_BEST = '''def best_feasible(summaries, limits, objective):
    if "min_throughput_ips" in limits:
        return 3
    area = limits.get("max_area_mm2", 0)
    if area < 1:
        return None
    return {1.5: 2, 100.0: 1}.get(area, 1)
'''

# One change per track, with the visible tests' targets lowered to let them pass.
ONE_CHANGE_EDGE = '''CHALLENGES["edge"]["target"] = 1.5
CHALLENGES["server"]["target"] = 1.0
EDGE_DESIGN = refs["edge"].replace(name="one change", input_buffer_bytes=1024 * 1024)
'''
ONE_CHANGE_SERVER = '''SERVER_DESIGN = refs["server"].replace(name="one change", dataflow="os")
'''

FAKE_STD = '''def analog_error_std(a, w_max, prog_noise, read_noise):
    return 0.8
'''

CASES = {   # student -> (answers replaced, test cells that must score 0, status)
    "library": ({"design_area_mm2": CALLS_LIBRARY_AREA, "adc": CALLS_LIBRARY_ADC},
                {"test_design_area_mm2", "test_adc"}, "graded"),
    "patched": ({"design_area_mm2": PATCH_TOOLS, "best_feasible": FAKE_BEST, "analog_error_std": FAKE_STD},
                set(hostile.auto_points(LAB)), "graded"),
    "one_change": ({"edge_design": ONE_CHANGE_EDGE, "server_design": ONE_CHANGE_SERVER},
                   {"test_edge_score", "test_server_score"}, "graded"),
}


# The fixture and the four tests every lab shares (one per student case, and three checks).
from grading_fixtures.hostile_tests import (  # noqa: E402,F401
    graded, test_calling_the_library_is_switched_off, test_feedback_shows_no_hidden_test,
    test_hostile_submission_loses_exactly_its_tasks, test_patched_tools_are_caught_by_the_grader_and_flagged)
