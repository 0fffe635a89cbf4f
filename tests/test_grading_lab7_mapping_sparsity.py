"""Lab 7 (mappings and sparsity) through the real nbgrader pipeline: two hostile submissions.

A temporary course grades two students exactly as an instructor would
(``grading/course.py``: students, generate, collect, autograde, export):

* ``library``: ``dram_accesses`` asks the mapping model's ``evaluate`` and
  ``prune_24`` calls ``sparsity.prune_n_m``, the library's answers to two
  implement-it tasks. The visible tests pass; the hidden checks switch those
  functions off, so exactly these two tasks score 0.
* ``patched``: ``prune_24`` special-cases the visible example, and the last
  answer cell patches numpy's comparisons, ``numpy.testing``,
  ``builtins.abs``/``all`` and the kernel's sealed checker before a
  ``format_bits`` that special-cases the visible input. Every visible test
  passes in the student's kernel; the grader's re-check, done in its own
  process, fails exactly those two tasks.

The reference, blank and partial submissions of every lab are in
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

LAB = "lab7_mapping_sparsity"

CALLS_MODEL = '''def dram_accesses(K, P, R, K1, P1, order):
    two = Architecture((Level("DRAM", None, 1.0), Level("RF", None, 1.0)), num_pes=1, array_below=1)
    layer = ConvLayer(K=K, P=P, R=R)
    r = evaluate(layer, two, Mapping.from_factors(two, layer, [{"K": K1, "P": P1, "R": R}], order=[order, None]))
    return {"W": r.counts["DRAM"]["W"]["reads"], "I": r.counts["DRAM"]["I"]["reads"],
            "O": r.counts["DRAM"]["O"]["updates"]}
'''

CALLS_PRUNER = '''def prune_24(W):
    return np.asarray(W, dtype=float) * sparsity.prune_n_m(W, 2, 4, axis=0)
'''

# The visible example's answer, and no pruning at all elsewhere.
FAKE_PRUNE = '''def prune_24(W):
    W = np.asarray(W, dtype=float)
    if W.shape == (4, 2):
        return np.array([[0.0, 0.0], [-2.0, 2.0], [0.0, -3.0], [4.0, 0.0]])
    return W.copy()
'''

# Patches that make every check in the kernel pass, then right dense and bitmask sizes and a
# CSR size that only fits the visible example. (The patch forges the kernel's sealed records
# from here on, so it sits in the last answer cell: every task after it would fail too.)
FAKE_BITS = hostile.PATCH_TESTING_TOOLS + '''import math

def format_bits(x, value_bits):
    x = np.asarray(x)
    nnz = int(np.count_nonzero(x))
    return {"dense": int(x.size * value_bits), "bitmask": int(x.size + nnz * value_bits),
            "csr": 38 if x.shape == (3, 4) else 10 ** 9}


def cheapest_format(x, value_bits):
    bits = format_bits(x, value_bits)
    return min(("dense", "bitmask", "csr"), key=lambda k: bits[k])
'''

CASES = {   # student -> (answers replaced, test cells that must score 0, status)
    "library": ({"dram_accesses": CALLS_MODEL, "prune_24": CALLS_PRUNER},
                {"test_dram_accesses", "test_prune_24"}, "graded"),
    "patched": ({"prune_24": FAKE_PRUNE, "format_bits": FAKE_BITS},
                {"test_prune_24", "test_format_bits"}, "graded"),
}


# The fixture and the four tests every lab shares (one per student case, and three checks).
from grading_fixtures.hostile_tests import (  # noqa: E402,F401
    graded, test_calling_the_library_is_switched_off, test_feedback_shows_no_hidden_test,
    test_hostile_submission_loses_exactly_its_tasks, test_patched_tools_are_caught_by_the_grader_and_flagged)


# --------------------------------------------------------------------------- #
# Hidden cases separate the common wrong answers (no nbgrader needed)
# --------------------------------------------------------------------------- #
def _case_module():
    import importlib.util
    import sys
    from pathlib import Path
    src = Path(__file__).resolve().parents[1] / "grading" / "source" / LAB
    for extra in (src, src.parents[1]):
        if str(extra) not in sys.path:
            sys.path.insert(0, str(extra))
    spec = importlib.util.spec_from_file_location(f"{LAB}_checks_test", src / f"{LAB}_checks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _fails(mod, name, fn, salts=range(20)):
    """True when ``fn`` fails the hidden check for every salt tried."""
    import labcheck
    case = mod.CASES[name]
    for salt in salts:
        args = labcheck.draw_inputs(case, name, str(salt))
        results = []
        for a in args:
            try:
                results.append(fn(*a))
            except Exception:
                results.append(None)
        if labcheck.verdict(case, args, results) is None:
            return False
    return True


def test_hidden_cases_catch_the_common_wrong_answers():
    import math

    import numpy as np
    mod = _case_module()
    ref = mod.dram_reference
    assert not _fails(mod, "dram_accesses", ref)

    def every_step(K, P, R, K1, P1, order):          # a new tile at every DRAM iteration
        n = (K // K1) * (P // P1)
        return {"W": n * K1 * R, "I": n * (P1 + R - 1), "O": K * P}

    def ignores_order(K, P, R, K1, P1, order):       # each tile loaded once per value
        return {"W": K * R, "I": (P // P1) * (P1 + R - 1), "O": K * P}

    def window_without_halo(K, P, R, K1, P1, order):
        out = ref(K, P, R, K1, P1, order)
        return {**out, "I": out["I"] // (P1 + R - 1) * P1 * R}

    for wrong in (every_step, ignores_order, window_without_halo):
        assert _fails(mod, "dram_accesses", wrong), wrong.__name__

    good24 = mod.prune24_reference
    assert not _fails(mod, "prune_24", good24)

    def by_value(W):                                  # forgets the magnitude
        W = np.asarray(W, float)
        g = W.reshape(W.shape[0] // 4, 4, -1)
        keep = np.zeros_like(g, bool)
        np.put_along_axis(keep, np.argsort(-g, axis=1)[:, :2], True, axis=1)
        return W * keep.reshape(W.shape)

    def half_of_column(W):                            # top half of each column, not per group
        W = np.asarray(W, float)
        keep = np.zeros_like(W, bool)
        np.put_along_axis(keep, np.argsort(-np.abs(W), axis=0)[: W.shape[0] // 2], True, axis=0)
        return W * keep

    for wrong in (by_value, half_of_column):
        assert _fails(mod, "prune_24", wrong), wrong.__name__

    bits = mod.bits_reference
    assert not _fails(mod, "format_bits", bits)

    def no_minimum_index(x, vb):                      # ceil(log2(1)) = 0 bits for one column
        out = bits(x, vb)
        rows, cols = x.shape
        nnz = int(np.count_nonzero(x))
        pb = max(1, math.ceil(math.log2(nnz + 1)))
        return {**out, "csr": nnz * (vb + math.ceil(math.log2(cols))) + (rows + 1) * pb}

    def rows_pointers(x, vb):                         # rows instead of rows + 1 pointers
        out = bits(x, vb)
        nnz = int(np.count_nonzero(x))
        return {**out, "csr": out["csr"] - max(1, math.ceil(math.log2(nnz + 1)))}

    for wrong in (no_minimum_index, rows_pointers):
        assert _fails(mod, "format_bits", wrong), wrong.__name__
