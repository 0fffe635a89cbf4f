"""Lab 3 (memory hierarchy and energy) through the real autograde: two hostile submissions.

One temporary course grades two students exactly as an instructor would
(``grading/course.py``: students, generate, collect, autograde, export):

* ``library``: the reference answers, except that the LRU cache and the
  dataflow traffic counts call the library's simulator instead of computing
  them. The visible tests pass (the library is right), the hidden checks
  switch the simulator off: exactly those two tasks' points are lost.
* ``patched``: the reference answers, except that the first answer cell
  patches numpy's comparisons, ``numpy.testing``, ``builtins.abs``/``all`` and
  the in-kernel checker, and two answers only fit the visible examples. Every
  check in the kernel "passes"; the grader's re-check outside the kernel
  fails exactly those two tasks and flags the submission for review.

The feedback HTML of both shows no hidden test. Expected scores are read
from the source notebook's metadata, not typed in.
The shared cases (loops, edited and deleted tests, bad files...) are in
``tests/test_grading.py``; full, zero and partial credit in
``tests/test_grading_labs.py``.
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

LAB = "lab3_memory"

CALLS_LIBRARY_CACHE = '''from mini_accel.memory import Cache, MemoryHierarchy

def lru_misses(addresses, size_bytes, line_bytes, ways):
    cache = Cache("L1", size_bytes, ways=ways, line_bytes=line_bytes)
    return MemoryHierarchy(cache).run(np.asarray(addresses, dtype=np.int64))["L1"].misses
'''

CALLS_LIBRARY_TRAFFIC = '''from mini_accel import systolic_traffic as traffic

def array_buffer_traffic(M, K, N, rows, cols, dataflow):
    t = traffic(M, K, N, rows, cols, dataflow)
    return {"a_reads": t["a_reads"], "b_reads": t["b_reads"], "out_writes": t["out_writes"]}
'''

# Patches every testing tool the kernel could use, then answers the visible example only.
MONKEYPATCH_TOOLS = hostile.PATCH_TESTING_TOOLS + '''
def energy_breakdown(counts, costs):
    return {"mac": 4600.0, "dram": 13000.0, "total": 17600.0}
'''

FAKE_TILED = '''def tiled_dram_words(M, K, N, tile_m, tile_k, tile_n, order):
    visible = {
        (256, 256, 256, 64, 64, 64, "mnk"): {"A": 262144, "B": 262144, "C": 65536},
        (256, 256, 256, 64, 64, 64, "mkn"): {"A": 65536, "B": 262144, "C": 458752},
        (100, 100, 100, 100, 100, 10, "knm"): {"A": 10000, "B": 10000, "C": 10000},
        (300, 200, 100, 64, 32, 16, "nmk"): {"A": 420000, "B": 100000, "C": 30000},
        (300, 200, 100, 64, 32, 16, "kmn"): {"A": 60000, "B": 100000, "C": 390000},
    }
    return visible.get((M, K, N, tile_m, tile_k, tile_n, order), {"A": 1, "B": 1, "C": 1})
'''

# student id -> (answer overrides, test cells that must fail, expected status)
CASES = {
    "library": ({"lru_misses": CALLS_LIBRARY_CACHE, "array_buffer_traffic": CALLS_LIBRARY_TRAFFIC},
                ("test_lru_misses", "test_lru_misses_edges", "test_array_buffer_traffic"), "graded"),
    "patched": ({"energy_breakdown": MONKEYPATCH_TOOLS, "tiled_dram_words": FAKE_TILED},
                hostile.tests_after(LAB, "energy_breakdown"), "graded"),
}


# The fixture and the four tests every lab shares (one per student case, and three checks).
from grading_fixtures.hostile_tests import (  # noqa: E402,F401
    graded, test_calling_the_library_is_switched_off, test_feedback_shows_no_hidden_test,
    test_hostile_submission_loses_exactly_its_tasks, test_patched_tools_are_caught_by_the_grader_and_flagged)
