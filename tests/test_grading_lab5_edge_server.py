"""Lab 5 (edge vs server) through the real nbgrader pipeline: two hostile submissions.

A temporary course grades two students exactly as an instructor would
(``grading/course.py``: students, generate, collect, autograde, export):

* ``library``: ``max_batch_within`` returns ``model.max_batch(...)`` and
  ``usd_per_million`` asks ``total_cost_of_ownership``, the library's answers
  to two implement-it tasks. The visible tests pass; the hidden checks switch
  those functions off, so exactly these two tasks score 0.
* ``patched``: the first answer cell patches numpy's comparisons,
  ``numpy.testing``, ``builtins.abs``/``all`` and the in-kernel checker, then
  ``place_apps`` and ``kwh_per_1000_to_joules`` return made-up numbers. Every
  test passes in the student's kernel; the grader's re-check, done in its own
  process, fails exactly those two tasks and flags the student for review.

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


CASES = {   # student -> (answers replaced, test cells that must score 0, status)
    "library": ({"max_batch_within": CALLS_LIBRARY_BATCH, "usd_per_million": CALLS_LIBRARY_TCO},
                {"test_max_batch_within", "test_usd_per_million"}, "graded"),
    "patched": ({"roofline": PATCH_TOOLS, "place_apps": FAKE_PLACE_APPS, "energy_per_inference": FAKE_KWH},
                {"test_place_apps", "test_energy_per_inference"}, "review"),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    return hostile.grade(tmp_path_factory.mktemp(LAB), LAB, CASES)


@pytest.mark.parametrize("sid", list(CASES))
def test_hostile_submission_loses_exactly_its_tasks(graded, sid):
    hostile.check_loses_exactly_its_tasks(graded, sid)


def test_calling_the_library_is_switched_off(graded):
    hostile.check_switched_off(graded, "library")


def test_patched_tools_are_caught_by_the_grader_and_flagged(graded):
    hostile.check_flagged_for_review(graded, "patched")


def test_feedback_shows_no_hidden_test(graded):
    hostile.check_feedback_has_no_hidden_test(graded)
