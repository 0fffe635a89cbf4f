"""Lab 7 (mappings and sparsity): the hidden cases separate the common wrong answers.

No nbgrader needed: the reference answers of the case module pass the hidden
checks, and each common wrong answer (a new tile at every DRAM step, the loop
order ignored, the input halo forgotten; pruning by value or per column; CSR
without the minimum index width or with one pointer too few) fails them for
every grader seed tried. The lab's hostile submissions graded through nbgrader
are in ``tests/test_grading_hostile.py`` (cases in
``grading_fixtures/hostile_cases.py``).
"""
from __future__ import annotations

LAB = "lab7_mapping_sparsity"


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
