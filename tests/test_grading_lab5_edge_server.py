"""Lab 5 (edge vs server) through the real nbgrader pipeline: four hostile submissions.

A temporary course grades two students exactly as an instructor would
(``grading/course.py``: students, generate, collect, autograde, export):

* ``library``: ``max_batch_within`` returns ``model.max_batch(...)`` and
  ``usd_per_million`` asks ``total_cost_of_ownership``, the library's answers
  to two implement-it tasks. The visible tests pass; the hidden checks switch
  those functions off, so exactly these two tasks score 0, and Task 8, whose
  ``cheapest_instance`` calls that ``max_batch_within``.
* ``patched``: the first answer cell patches numpy's comparisons,
  ``numpy.testing``, ``builtins.abs``/``all`` and the in-kernel checker, then
  ``place_apps`` and ``kwh_per_1000_to_joules`` return made-up numbers. Every
  test passes in the student's kernel; the grader's re-check, done in its own
  process, fails exactly those two tasks and flags the student for review.

* ``linear``: ``max_batch_within`` tries one batch after another. The lab says
  this is too slow, and a hidden case makes it so (an answer of 1e8 to 3e8
  batches): the cell is stopped by the grader's 30 s limit, and so is the
  hidden check of ``cheapest_instance``, which calls it.
* ``fake_machine``: ``MY_MACHINE`` is made up: sizes, times and derived
  numbers agree with each other, but the times describe a 500 TFLOP/s CPU.
  The visible test and the grader both refuse it.

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

LAB = "lab5_edge_server"

CALLS_LIBRARY_BATCH = '''def max_batch_within(model, deadline_s):
    return model.max_batch(deadline_s)
'''

CALLS_LIBRARY_TCO = '''def usd_per_million(purchase_usd, power_w, throughput_ips, years=5, pue=1.57, usd_per_kwh=0.0806, utilization=0.3):
    tco = ma.edge_server.total_cost_of_ownership(purchase_usd, power_w, years=years, pue=pue,
                                                 usd_per_kwh=usd_per_kwh, utilization=utilization)
    return tco.cost_per_inference(throughput_ips) * 1e6
'''

# A correct roofline, preceded by patches that make every check in the kernel pass.
PATCH_TOOLS = hostile.PATCH_TESTING_TOOLS + '''
def roofline(intensity, peak_ops, bandwidth):
    return float(min(peak_ops, intensity * bandwidth)), ("memory" if intensity < peak_ops / bandwidth else "compute")
'''

# Right names and bounds for the visible apps, made-up numbers (abs() is patched away).
FAKE_PLACE_APPS = '''def place_apps(apps, peak_ops, bandwidth):
    return [{"app": a.name, "ops_per_byte": 1.0, "attainable_tops": 1.0,
             "bound": "compute" if a.name.startswith("CNN") else "memory"} for a in apps]

TPU_RIDGE_MACS_PER_BYTE = 1353
'''

FAKE_KWH = '''def energy_per_inference(model, batch):
    return model.power_w * batch_latency(model, batch) / batch

def kwh_per_1000_to_joules(kwh_per_1000):
    return 7.2
'''


LINEAR_SEARCH = '''def max_batch_within(model, deadline_s):
    b = 0
    while batch_latency(model, b + 1) <= deadline_s:
        b += 1
    return b
'''

# Consistent with itself, impossible for a CPU: 500 TFLOP/s.
FAKE_MACHINE = '''rate = 5e14
gemm = [{"n": n, "seconds": [2 * n**3 / rate * f for f in (1.0, 1.02, 1.05)]} for n in (1024, 2048, 4096)]
memory = [{"kernel": "copy", "bytes": 2**28, "seconds": [0.01, 0.011, 0.012]}]
MY_MACHINE = {"dtype": "float32", "threads": 8, "gemm": gemm, "stream": memory, "peak_ops": rate,
              "bandwidth": 2**28 / 0.011, "ridge": rate / (2**28 / 0.011),
              "layer": {"M": 128, "K": 768, "N": 3072, "seconds": [1e-6, 1.1e-6, 1.2e-6]},
              "layer_measured_ops": 2 * 128 * 768 * 3072 / 1.1e-6,
              "layer_predicted_ops": min(rate, 2 * 128 * 768 * 3072 / ((128 * 768 + 768 * 3072 + 128 * 3072) * 4) * 2**28 / 0.011)}
'''

CASES = {   # student -> (answers replaced, test cells that must score 0, status)
    "library": ({"max_batch_within": CALLS_LIBRARY_BATCH, "usd_per_million": CALLS_LIBRARY_TCO},
                {"test_max_batch_within", "test_usd_per_million", "test_cheapest_instance"}, "graded"),
    "patched": ({"roofline": PATCH_TOOLS, "place_apps": FAKE_PLACE_APPS, "energy_per_inference": FAKE_KWH},
                hostile.tests_after(LAB, "roofline"), "graded"),
    "linear": ({"max_batch_within": LINEAR_SEARCH}, {"test_max_batch_within", "test_cheapest_instance"}, "graded"),
    "fake_machine": ({"my_machine": FAKE_MACHINE}, {"test_my_machine"}, "graded"),   # Task 7's one test cell
}


# The fixture and the four tests every lab shares (one per student case, and three checks).
from grading_fixtures.hostile_tests import (  # noqa: E402,F401
    graded, test_calling_the_library_is_switched_off, test_feedback_shows_no_hidden_test,
    test_hostile_submission_loses_exactly_its_tasks, test_patched_tools_are_caught_by_the_grader_and_flagged)
